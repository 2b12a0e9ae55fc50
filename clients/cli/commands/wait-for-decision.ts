import { AccessRequestChangedDocument, AccessRequestDocument } from '../../graphql/generated/graphql.js';
import type { AccessRequestFieldsFragment } from '../../graphql/generated/graphql.js';
import type { BrokerApi } from '../broker-api.js';
import { CliError, refusedCredential } from '../cli-error.js';

type Request = AccessRequestFieldsFragment;

/** Errors that re-reading will not cure (a refused credential, a request gone); anything else (a restart, a blip) is waited out. */
const final = (error: unknown) => refusedCredential(error) || (error instanceof CliError && error.code === 'NOT_FOUND');

/**
 * Creates a request and resolves once it is decided (approved, denied, cancelled or
 * expired). The `accessRequestChanged` subscription is accepted before the request is
 * created. Pub/sub is a hint, not the truth (a message can be lost between instances),
 * so the request is also re-read after every reconnect and every `recheckMs`.
 */
export async function waitForDecision(api: BrokerApi, create: () => Promise<Request>, onPending: (request: Request) => void, recheckMs: number): Promise<Request> {
  let id: string | undefined;
  const early = new Map<string, Request>();
  let decided: ((request: Request) => void) | undefined;
  let failed: ((error: Error) => void) | undefined;
  let reread = () => {};
  const subscription = api.subscribe(AccessRequestChangedDocument, {}, {
    onData: ({ accessRequestChanged: changed }) => (id ? changed.id === id && changed.status !== 'PENDING' && decided?.(changed) : early.set(changed.id, changed)),
    onError: (error) => failed?.(error),
    onReconnected: () => reread(),
  });
  let recheck: NodeJS.Timeout | undefined;
  try {
    await subscription.connected;
    const created = await create();
    if (created.status !== 'PENDING') return created;
    id = created.id;
    onPending(created);
    return await new Promise<Request>((resolve, reject) => {
      decided = resolve;
      failed = (error) => reject(new CliError(error instanceof CliError ? error.code : 'WAIT_FAILED', `${error.message} (request ${created.id} stays open: see \`portcullis requests --mine\`)`));
      reread = () =>
        void api.request(AccessRequestDocument, { id: created.id }).then(
          ({ accessRequest }) => accessRequest && accessRequest.status !== 'PENDING' && resolve(accessRequest),
          (error: unknown) => (error instanceof CliError && !final(error) ? undefined : failed!(error as Error)),
        );
      const seen = early.get(created.id);
      if (seen && seen.status !== 'PENDING') resolve(seen);
      recheck = setInterval(reread, recheckMs);
    });
  } finally {
    clearInterval(recheck);
    await subscription.close();
  }
}
