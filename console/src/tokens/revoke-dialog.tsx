import type { CombinedError } from '@urql/preact';
import { sortErrors } from '../forms/field-errors';
import { Dialog } from '../ui/dialog';
import { FormErrors } from '../ui/messages';

/** Asks before a revocation: what it ends, the revoking button, and a way out that keeps it. */
export function RevokeDialog(props: { title: string; consequence: string; confirm: string; keep: string; fetching: boolean; error: CombinedError | undefined; onRevoke: () => void; onClose: () => void }) {
  const errors = sortErrors(props.error, []);
  return (
    <Dialog title={props.title} onClose={props.onClose}>
      <p>{props.consequence}</p>
      <FormErrors messages={errors.form} />
      <div class="actions">
        <button type="button" class="button-danger" disabled={props.fetching} onClick={props.onRevoke}>
          {props.confirm}
        </button>
        <button type="button" class="button-secondary" onClick={props.onClose}>
          {props.keep}
        </button>
      </div>
    </Dialog>
  );
}
