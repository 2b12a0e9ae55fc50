import { useMutation } from '@urql/preact';
import { ConsoleRevokeGrantDocument } from '../gql/graphql';
import { sortErrors } from '../forms/field-errors';
import { useRequiredText } from '../forms/required-text';
import { Dialog } from '../ui/dialog';
import { Field, describedBy } from '../ui/field';
import { FormErrors } from '../ui/messages';
import type { Grant } from './live-access';

/** Revoking ends a grant at once on every broker instance; the API wants a reason. */
export function RevokeDialog(props: { grant: Grant; onClose: (message?: string) => void }) {
  const reason = useRequiredText('Give a reason: it is recorded in the audit log and shown to the grant holder.');
  const [result, revoke] = useMutation(ConsoleRevokeGrantDocument);
  const errors = sortErrors(result.error, ['reason']);
  const reasonError = reason.error(errors.fields.reason);
  const submit = async (event: Event) => {
    event.preventDefault();
    const text = reason.take();
    if (text === null) return;
    const answer = await revoke({ id: props.grant.id, reason: text });
    if (answer.data) props.onClose(`The grant on ${props.grant.server} was revoked.`);
  };
  return (
    <Dialog title={`Revoke the grant on ${props.grant.server}`} onClose={() => props.onClose()}>
      <form class="form" onSubmit={submit} noValidate>
        <p>
          It ends at once: open MCP sessions using it are closed. Held by {props.grant.user.email}.
        </p>
        <FormErrors messages={errors.form} />
        <Field id="revoke-reason" label="Reason" error={reasonError}>
          <textarea id="revoke-reason" rows={3} aria-required="true" value={reason.value} onInput={(e) => reason.setValue(e.currentTarget.value)} {...describedBy('revoke-reason', { error: reasonError })} />
        </Field>
        <div class="actions">
          <button type="submit" class="button-danger" disabled={result.fetching}>
            Revoke grant
          </button>
          <button type="button" class="button-secondary" onClick={() => props.onClose()}>
            Keep it
          </button>
        </div>
      </form>
    </Dialog>
  );
}
