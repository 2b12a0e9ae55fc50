import { AccessRequestChangedDocument, AccessRequestDocument } from '../../graphql/generated/graphql.js';
import type { AccessRequestFieldsFragment } from '../../graphql/generated/graphql.js';
import type { BrokerApi } from '../broker-api.js';

/**
 * Pub/sub is a hint, not the truth (a message can be lost between instances): the request
 * is re-read after every reconnect and at this interval, so a lost event costs at most this
 * long, never a wait forever.
 */
const RECHECK_MS = 15_000;

/**
 * Creates a request and resolves once it is decided (approved, denied, cancelled or
 * expired). The `accessRequestChanged` subscription is opened before the request is
 * created, so a decision that comes at once is not missed.
 */
export function waitForDecision(
  api: BrokerApi,
  create: () => Promise<AccessRequestFieldsFragment>,
  onPending: (request: AccessRequestFieldsFragment) => void,
): Promise<AccessRequestFieldsFragment> {
  return new Promise((resolve, reject) => {
    let id: string | undefined;
    const early = new Map<string, AccessRequestFieldsFragment>();
    let recheck: NodeJS.Timeout | undefined;
    let done = false;
    const finish = (outcome: AccessRequestFieldsFragment | Error) => {
      if (done) return;
      done = true;
      clearInterval(recheck);
      void subscription.close();
      if (outcome instanceof Error) reject(outcome);
      else resolve(outcome);
    };
    const consider = (request: AccessRequestFieldsFragment | null | undefined) => {
      if (request && request.id === id && request.status !== 'PENDING') finish(request);
    };
    const reread = () => {
      if (id) api.request(AccessRequestDocument, { id }).then(({ accessRequest }) => consider(accessRequest), finish);
    };
    const subscription = api.subscribe(AccessRequestChangedDocument, {}, {
      onData: ({ accessRequestChanged: changed }) => (id ? consider(changed) : early.set(changed.id, changed)),
      onError: finish,
      onReconnected: reread,
    });
    create().then((created) => {
      id = created.id;
      if (created.status !== 'PENDING') return finish(created);
      onPending(created);
      consider(early.get(created.id));
      recheck = setInterval(reread, RECHECK_MS);
    }, finish);
  });
}
