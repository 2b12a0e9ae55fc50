import { useMutation } from '@urql/preact';
import { useState } from 'preact/hooks';
import { ConsoleReviewRequestDocument } from '../gql/graphql';
import type { ReviewDecision } from '../gql/graphql';
import { formatSpan } from '../format/time-format';
import { sortErrors } from '../forms/field-errors';
import { focusFirstError } from '../forms/focus-error';
import { Age, Time } from '../ui/time';
import { Field, describedBy } from '../ui/field';
import { FormErrors } from '../ui/messages';
import { durationChoices } from './durations';
import type { Request } from './live-access';
import { describePatterns } from './pattern-list';

/** One pending request: what is asked, by whom, why; approve (maybe shorter) or deny (with a reason). */
export function ReviewCard({ request, onDecided }: { request: Request; onDecided: (message: string) => void }) {
  const [reason, setReason] = useState('');
  const [duration, setDuration] = useState(request.durationSeconds);
  const [missingReason, setMissingReason] = useState(false);
  const [result, review] = useMutation(ConsoleReviewRequestDocument);
  const errors = sortErrors(result.error, ['reason', 'durationSeconds']);
  const reasonError = missingReason ? 'Give a reason to deny: the requester reads it.' : errors.fields.reason;
  const idPrefix = `review-${request.id}`;
  const who = request.requester.displayName ? `${request.requester.displayName} (${request.requester.email})` : request.requester.email;

  const decide = async (decision: ReviewDecision) => {
    if (decision === 'DENY' && !reason.trim()) {
      setMissingReason(true);
      document.getElementById(`${idPrefix}-reason`)?.focus();
      return;
    }
    setMissingReason(false);
    const answer = await review({
      input: {
        requestId: request.id,
        decision,
        reason: reason.trim() || undefined,
        durationSeconds: decision === 'APPROVE' && duration < request.durationSeconds ? duration : undefined,
      },
    });
    focusFirstError(sortErrors(answer.error, ['reason', 'durationSeconds']).fields, { durationSeconds: `${idPrefix}-duration`, reason: `${idPrefix}-reason` });
    if (answer.data) onDecided(`${decision === 'APPROVE' ? 'Approved' : 'Denied'}: ${request.requester.email}'s request for ${request.server}.`);
  };

  return (
    <article class="card" aria-labelledby={`${idPrefix}-title`}>
      <h2 id={`${idPrefix}-title`}>
        {request.requester.email} asks for {request.server}
      </h2>
      {request.filedByAgent && (
        <p class="notice notice-warning">
          Filed by a model from inside an MCP client{request.agentClient ? ` (${request.agentClient})` : ''}, not by the person: a prompt-injected model could have filed it.
        </p>
      )}
      <dl class="details">
        <dt>Requester</dt>
        <dd>{who}</dd>
        <dt>Tools</dt>
        <dd>{describePatterns(request.tools)}</dd>
        {request.resources.length > 0 && (
          <>
            <dt>Resources</dt>
            <dd>{describePatterns(request.resources)}</dd>
          </>
        )}
        {request.prompts.length > 0 && (
          <>
            <dt>Prompts</dt>
            <dd>{describePatterns(request.prompts)}</dd>
          </>
        )}
        <dt>Read-only</dt>
        <dd>{request.readOnly ? 'Yes' : 'No'}</dd>
        <dt>Duration</dt>
        <dd>{formatSpan(request.durationSeconds)}</dd>
        <dt>Reason</dt>
        <dd class="cell-text">{request.reason}</dd>
        <dt>Requested</dt>
        <dd>
          <Age since={request.createdAt} /> (<Time iso={request.createdAt} />)
        </dd>
      </dl>
      <form
        class="form"
        noValidate
        onSubmit={(event) => {
          event.preventDefault();
          void decide('APPROVE');
        }}
      >
        <FormErrors messages={errors.form} />
        <Field id={`${idPrefix}-duration`} label="Approve for" hint="You may shorten it, never lengthen it." error={errors.fields.durationSeconds}>
          <select id={`${idPrefix}-duration`} value={String(duration)} onChange={(e) => setDuration(Number(e.currentTarget.value))} {...describedBy(`${idPrefix}-duration`, { hint: true, error: errors.fields.durationSeconds })}>
            {durationChoices(request.durationSeconds).reverse().map((seconds) => (
              <option key={seconds} value={String(seconds)}>
                {formatSpan(seconds)}
                {seconds === request.durationSeconds ? ' (as requested)' : ''}
              </option>
            ))}
          </select>
        </Field>
        <Field id={`${idPrefix}-reason`} label="Reason" hint="Required to deny, optional to approve." error={reasonError}>
          <textarea id={`${idPrefix}-reason`} rows={2} value={reason} onInput={(e) => setReason(e.currentTarget.value)} {...describedBy(`${idPrefix}-reason`, { hint: true, error: reasonError })} />
        </Field>
        <div class="actions">
          <button type="submit" disabled={result.fetching}>
            Approve
          </button>
          <button type="button" class="button-danger" disabled={result.fetching} onClick={() => void decide('DENY')}>
            Deny
          </button>
        </div>
      </form>
    </article>
  );
}
