import { useMutation } from '@urql/preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { compileToolPattern } from '../../../server/access/tool-patterns';
import { ConsoleCreateRequestDocument } from '../gql/graphql';
import type { CreateAccessRequestInput } from '../gql/graphql';
import { formatSpan } from '../format/time-format';
import { sortErrors } from '../forms/field-errors';
import { focusFirstError } from '../forms/focus-error';
import { Field, describedBy } from '../ui/field';
import { FormErrors } from '../ui/messages';
import { ToolBadges } from './catalogue';
import type { CatalogueServer } from './catalogue';
import { defaultDuration, durationChoices } from './durations';
import { describePatterns, parsePatterns } from './pattern-list';

const FIELDS = ['tools', 'resources', 'prompts', 'readOnly', 'durationSeconds', 'reason'] as const;
/** The control each refusable input is shown at, in the form's order. */
const FIELD_IDS = { tools: 'request-tool-patterns', resources: 'request-resources', prompts: 'request-prompts', durationSeconds: 'request-duration', reason: 'request-reason' };

/** The request form for one server; refusals are shown next to the field they concern. */
export function RequestForm(props: { server: CatalogueServer; onDone: (message: string) => void; onCancel: () => void }) {
  const { server } = props;
  const maxDuration = server.maxDurationSeconds ?? 3600;
  const [picked, setPicked] = useState<string[]>([]);
  const [toolPatterns, setToolPatterns] = useState('');
  const [resources, setResources] = useState('');
  const [prompts, setPrompts] = useState('');
  const [readOnly, setReadOnly] = useState(false);
  const [duration, setDuration] = useState(defaultDuration(maxDuration));
  const [reason, setReason] = useState('');
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const [result, create] = useMutation(ConsoleCreateRequestDocument);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), [server.name]);

  const requestableTools = useMemo(() => {
    const matchers = server.requestableTools.map(compileToolPattern);
    return (server.tools ?? []).filter((tool) => matchers.some((matches) => matches(tool.name)));
  }, [server]);
  const apiErrors = sortErrors(result.error, FIELDS);
  const errors = { ...apiErrors.fields, ...localErrors };

  const submit = async (event: Event) => {
    event.preventDefault();
    if (!reason.trim()) {
      setLocalErrors({ reason: 'Give a reason: the reviewers read it to decide.' });
      document.getElementById(FIELD_IDS.reason)?.focus();
      return;
    }
    setLocalErrors({});
    const tools = [...picked, ...parsePatterns(toolPatterns)];
    const input: CreateAccessRequestInput = { server: server.name, durationSeconds: duration, reason: reason.trim(), readOnly };
    // Omitted kinds mean "what the rule allows" (tools: every requestable tool).
    if (tools.length > 0) input.tools = tools;
    if (parsePatterns(resources).length > 0) input.resources = parsePatterns(resources);
    if (parsePatterns(prompts).length > 0) input.prompts = parsePatterns(prompts);
    const answer = await create({ input });
    focusFirstError(sortErrors(answer.error, FIELDS).fields, FIELD_IDS);
    const created = answer.data?.createAccessRequest;
    if (created) {
      props.onDone(
        created.status === 'APPROVED'
          ? `Your request for ${created.server} was approved at once: the grant is active.`
          : `Your request for ${created.server} was sent and waits for review.`,
      );
    }
  };

  const toggle = (name: string, on: boolean) => setPicked((current) => (on ? [...current, name] : current.filter((n) => n !== name)));

  return (
    <form class="form" onSubmit={submit} noValidate aria-labelledby="request-form-title">
      <h2 id="request-form-title" ref={heading} tabIndex={-1}>
        Request access to {server.name}
      </h2>
      <FormErrors messages={apiErrors.form} />
      <fieldset class={errors.tools ? 'field-invalid' : undefined} aria-describedby={errors.tools ? 'request-tools-error' : 'request-tools-hint'}>
        <legend>Tools</legend>
        <p class="hint" id="request-tools-hint">
          Pick tools, type names or patterns (<code>*</code> matches any run of characters), or leave both empty to ask for every tool you may request ({describePatterns(server.requestableTools)}).
        </p>
        {requestableTools.length > 0 && (
          <ul class="checklist">
            {requestableTools.map((tool) => (
              <li key={tool.name}>
                <label>
                  <input type="checkbox" checked={picked.includes(tool.name)} onChange={(e) => toggle(tool.name, e.currentTarget.checked)} />
                  <code>{tool.name}</code> <ToolBadges tool={tool} />
                </label>
              </li>
            ))}
          </ul>
        )}
        <Field id="request-tool-patterns" label="Tool names or patterns" hint="Separated by commas or spaces, for example read_* or get_file.">
          <input id="request-tool-patterns" type="text" value={toolPatterns} onInput={(e) => setToolPatterns(e.currentTarget.value)} {...describedBy('request-tool-patterns', { hint: true })} />
        </Field>
        {errors.tools && (
          <p class="field-error" id="request-tools-error">
            {errors.tools}
          </p>
        )}
      </fieldset>
      {server.requestableResources.length > 0 && (
        <Field id="request-resources" label="Resource patterns" hint={`URIs or patterns you may ask for: ${describePatterns(server.requestableResources)}. Empty: what your rule allows.`} error={errors.resources}>
          <input id="request-resources" type="text" value={resources} onInput={(e) => setResources(e.currentTarget.value)} {...describedBy('request-resources', { hint: true, error: errors.resources })} />
        </Field>
      )}
      {server.requestablePrompts.length > 0 && (
        <Field id="request-prompts" label="Prompt patterns" hint={`Prompt names or patterns you may ask for: ${describePatterns(server.requestablePrompts)}. Empty: what your rule allows.`} error={errors.prompts}>
          <input id="request-prompts" type="text" value={prompts} onInput={(e) => setPrompts(e.currentTarget.value)} {...describedBy('request-prompts', { hint: true, error: errors.prompts })} />
        </Field>
      )}
      <div class={`field field-check${errors.readOnly ? ' field-invalid' : ''}`}>
        <label>
          <input type="checkbox" checked={readOnly} onChange={(e) => setReadOnly(e.currentTarget.checked)} />
          Read-only tools only
        </label>
        {errors.readOnly && <p class="field-error">{errors.readOnly}</p>}
      </div>
      <Field id="request-duration" label="Duration" hint={`At most ${formatSpan(maxDuration)} on this server.`} error={errors.durationSeconds}>
        <select id="request-duration" value={String(duration)} onChange={(e) => setDuration(Number(e.currentTarget.value))} {...describedBy('request-duration', { hint: true, error: errors.durationSeconds })}>
          {durationChoices(maxDuration).map((seconds) => (
            <option key={seconds} value={String(seconds)}>
              {formatSpan(seconds)}
            </option>
          ))}
        </select>
      </Field>
      <Field id="request-reason" label="Reason" hint="What you need it for; the reviewers read it." error={errors.reason}>
        <textarea id="request-reason" rows={3} aria-required="true" value={reason} onInput={(e) => setReason(e.currentTarget.value)} {...describedBy('request-reason', { hint: true, error: errors.reason })} />
      </Field>
      <div class="actions">
        <button type="submit" disabled={result.fetching}>
          {result.fetching ? 'Sending…' : 'Send request'}
        </button>
        <button type="button" class="button-secondary" onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
