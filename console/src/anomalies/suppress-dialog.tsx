import { useMutation } from '@urql/preact';
import { useState } from 'preact/hooks';
import { ConsoleSuppressAnomaliesDocument } from '../gql/graphql';
import { formatSpan } from '../format/time-format';
import { sortErrors } from '../forms/field-errors';
import { useRequiredText } from '../forms/required-text';
import { Dialog } from '../ui/dialog';
import { Field, describedBy } from '../ui/field';
import { FormErrors } from '../ui/messages';
import { ruleLabel } from './anomaly-labels';

/** At most 90 days: a known cause is silenced for a while, never for good (the API refuses longer). */
const DURATIONS = [3600, 8 * 3600, 86_400, 3 * 86_400, 7 * 86_400, 30 * 86_400, 90 * 86_400];

/** Silences one rule for one user for a while; the API wants the known cause. */
export function SuppressDialog(props: { user: string; rule: string; onClose: (message?: string) => void }) {
  const [durationSeconds, setDuration] = useState(7 * 86_400);
  const reason = useRequiredText('Give the known cause: it is recorded in the audit log.');
  const [result, suppress] = useMutation(ConsoleSuppressAnomaliesDocument);
  const errors = sortErrors(result.error, ['durationSeconds', 'reason']);
  const reasonError = reason.error(errors.fields.reason);
  const submit = async (event: Event) => {
    event.preventDefault();
    const text = reason.take();
    if (text === null) return;
    const answer = await suppress({ input: { user: props.user, rule: props.rule, durationSeconds, reason: text } });
    if (answer.data) props.onClose(`No ${ruleLabel(props.rule)} anomaly is raised for ${props.user} for ${formatSpan(durationSeconds)}.`);
  };
  return (
    <Dialog title={`Suppress ${ruleLabel(props.rule)} for ${props.user}`} onClose={() => props.onClose()}>
      <form class="form" onSubmit={submit} noValidate>
        <p>While it lasts, the detector raises no {ruleLabel(props.rule)} anomaly for this user. Every other rule still applies.</p>
        <FormErrors messages={errors.form} />
        <Field id="suppress-duration" label="For" error={errors.fields.durationSeconds}>
          <select id="suppress-duration" value={String(durationSeconds)} onChange={(e) => setDuration(Number(e.currentTarget.value))} {...describedBy('suppress-duration', { error: errors.fields.durationSeconds })}>
            {DURATIONS.map((seconds) => (
              <option key={seconds} value={String(seconds)}>
                {formatSpan(seconds)}
              </option>
            ))}
          </select>
        </Field>
        <Field id="suppress-reason" label="Known cause" error={reasonError}>
          <textarea id="suppress-reason" rows={3} aria-required="true" value={reason.value} onInput={(e) => reason.setValue(e.currentTarget.value)} {...describedBy('suppress-reason', { error: reasonError })} />
        </Field>
        <div class="actions">
          <button type="submit" class="button" disabled={result.fetching}>
            Suppress
          </button>
          <button type="button" class="button-secondary" onClick={() => props.onClose()}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}
