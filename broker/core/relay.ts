import { errorReply, INTERNAL_ERROR, INVALID_REQUEST, isId, wire } from '../jsonrpc.js';
import type { JsonRpcError, JsonRpcId, JsonRpcMessage } from '../jsonrpc.js';
import { clientAnswerEvent, refusedFrameEvent, serverRequestEvent } from '../request-audit.js';
import { isRecord } from './json.js';
import { askOut, metaOut, taskOut, urlElicitationOf } from './federation-map.js';
import { createdTaskOf } from './server-tasks.js';
import { MAX_REQUESTS_OF_CLIENT } from './leg.js';
import type { Leg } from './leg.js';
import type { Call, SessionCore } from './session-core.js';

type Json = Record<string, unknown>;
type Notification = JsonRpcMessage & { kind: 'notification' };

/** MCP 2025-11-25: a request needs the URL-mode elicitations in the error's `data.elicitations` completed first. */
const URL_ELICITATION_REQUIRED = -32042;

/** Why a client's answer to a server's request was not relayed, as the server is told. */
const ANSWER_REFUSED: Record<string, string> = {
  ill_formed_text: 'the client answered with ill-formed text',
  unknown_task: 'the client\'s answer relates to a task that is not this session\'s',
  broker_unavailable: 'the broker cannot confirm the session\'s grants right now',
};

/**
 * Notifications from the client. Only `notifications/*` methods are notifications: any
 * other method without an id would reach a server as a call nobody checked, so it is
 * dropped and audited as refused. What is relayed is audited first. While the broker cannot
 * confirm the session's grants none reaches a server but the session's own housekeeping:
 * a cancellation (it only stops work) and `initialized` (it completes an initialize the grants allowed).
 */
export async function handleClientNotification(core: SessionCore, message: Notification): Promise<void> {
  if (!message.method.startsWith('notifications/')) return void (await core.audit(refusedFrameEvent(message, { reason: 'not_a_notification' })).catch(() => {}));
  const params = isRecord(message.params) ? message.params : {};
  // A cancelled request's id is free at once, before anything is awaited: the client may
  // reuse it in its very next frame. The server is told once the notification is recorded.
  const cancelled = message.method === 'notifications/cancelled' ? takeCall(core, params.requestId) : [];
  core.enforceGrants();
  if (core.isEnded()) return;
  if (core.unconfirmed && !HOUSEKEEPING.has(message.method) && !(await core.reconfirm())) {
    return void (await core.audit(refusedFrameEvent(message, { reason: 'broker_unavailable' })).catch(() => {}));
  }
  if (core.isEnded()) return;
  const targets = notificationTargets(core, message.method, params);
  if (typeof targets === 'string') return void (await core.audit(refusedFrameEvent(message, { reason: targets })).catch(() => {}));
  // Recorded as it goes: its params (redacted, cut to size) and, federated, the servers it goes to.
  const to = core.naming.federated ? { servers: [...new Set([...targets, ...cancelled].map(({ leg }) => leg.server))] } : {};
  try {
    await core.audit({ type: 'mcp.notification', outcome: 'SUCCESS', data: { method: message.method, params: message.params ?? null, ...to }, bounded: ['params'] });
  } catch (error) {
    // A notification has no answer to carry the refusal: it is dropped, as it could not be recorded.
    return core.deps.logger.warn({ err: error, sessionId: core.id }, 'audit append failed: notification dropped');
  }
  core.cancelParts(cancelled, params.reason);
  for (const { leg, params: mapped } of targets) {
    // The client's `initialized` reaches a server only after that server answered initialize.
    if (message.method === 'notifications/initialized') void leg.init?.then((init) => init && core.legs.get(leg.server) === leg && leg.notify(message.method, message.params));
    else leg.notify(message.method, mapped);
  }
}

/** Client notifications that reach servers even while the session's grants cannot be confirmed. */
const HOUSEKEEPING = new Set(['notifications/cancelled', 'notifications/initialized']);

/** Where a client notification goes, with its params as that server knows them, or why it goes nowhere. */
function notificationTargets(core: SessionCore, method: string, params: Json): { leg: Leg; params: unknown }[] | string {
  const all = () => [...core.legs.values()].map((leg) => ({ leg, params: Object.keys(params).length === 0 ? undefined : params }));
  if (core.namesForeignTask(params)) return 'unknown_task';
  switch (method) {
    case 'notifications/initialized':
    case 'notifications/roots/list_changed':
      return all();
    case 'notifications/cancelled':
      return [];
    case 'notifications/progress': {
      // Progress the client reports on a request a server made of it (a token that server chose).
      const entry = typeof params.progressToken === 'string' ? core.serverProgress.get(params.progressToken) : undefined;
      return entry ? [{ leg: entry.leg, params: { ...params, progressToken: entry.token } }] : 'unknown_request';
    }
    case 'notifications/tasks/status': {
      // News of a task the client runs goes to the server it runs it for, and only that: an id the client
      // makes up must not reach a task of someone else's on a server whose store all its clients share.
      const owner = typeof params.taskId === 'string' ? core.clientTasks.get(params.taskId) : undefined;
      return owner ? [{ leg: owner, params }] : 'unknown_task';
    }
    default:
      // A notification MCP does not define goes only where the operator allows it, like a request.
      if (core.naming.federated) return 'not_relayed_by_federation';
      return [...core.legs.values()].some((leg) => leg.allowMethods.has(method)) ? all() : 'method_not_granted';
  }
}

/**
 * MCP cancellation: the request's id is free again at once and its late answer is dropped
 * (2025-11-25, cancellation: the sender ignores any response); returns the requests the
 * servers were sent for it, to be cancelled there. initialize cannot be cancelled.
 */
function takeCall(core: SessionCore, requestId: unknown): Call['parts'] {
  if (typeof requestId !== 'string' && typeof requestId !== 'number') return [];
  const call = core.calls.get(requestId);
  if (!call || call.method === 'initialize') return [];
  core.reply(call, null);
  return call.parts;
}

/**
 * The client's answer to a request a server made of it: only answers to requests actually
 * made pass, audited before they go back to the server that asked, under that server's
 * own id. An answer that cannot be relayed (ill-formed text, another's task, grants the
 * broker cannot confirm) is refused and the server told, so it does not wait for ever.
 */
export async function handleClientAnswer(core: SessionCore, message: JsonRpcMessage & { kind: 'result' | 'error' }, refused?: Json): Promise<void> {
  const entry = typeof message.id === 'number' ? core.serverRequests.get(message.id) : undefined;
  if (!entry) return;
  core.forgetServerRequest(message.id as number);
  const { leg, upstreamId } = entry;
  const why =
    refused ??
    (message.kind === 'result' && core.namesForeignTask(message.result, leg) ? { reason: 'unknown_task' } : undefined) ??
    (core.unconfirmed && !(await core.reconfirm()) ? { reason: 'broker_unavailable' } : undefined);
  if (why) {
    await core.audit({ ...clientAnswerEvent(upstreamId, 'DENIED', why), server: leg.server }).catch(() => {});
    const reason = String(why.reason);
    return leg.send(errorReply(upstreamId, INTERNAL_ERROR, `${ANSWER_REFUSED[reason]}, so the answer was not relayed`, { reason }));
  }
  const event = message.kind === 'result' ? clientAnswerEvent(upstreamId, 'SUCCESS') : clientAnswerEvent(upstreamId, 'ERROR', { error: { code: message.error.code } });
  try {
    await core.audit({ ...event, server: leg.server });
  } catch {
    return leg.send(errorReply(upstreamId, INTERNAL_ERROR, 'the broker could not audit the answer, so it was not relayed'));
  }
  const created = message.kind === 'result' ? createdTaskOf(message.result) : undefined;
  if (created) core.clientTaskFor(created.taskId, leg);
  leg.send({ ...wire(message), id: upstreamId });
}

/** A message from a server: an answer to one of the session's requests, a request of the client, or a notification. */
export function handleUpstreamMessage(core: SessionCore, leg: Leg, message: JsonRpcMessage | null, bytes: number): void {
  if (!message) return void core.deps.logger.warn({ sessionId: core.id, server: leg.server }, 'upstream sent an invalid JSON-RPC message; dropped');
  switch (message.kind) {
    case 'result': {
      if (!leg.answered(message.id, { kind: 'result', result: message.result, bytes })) return;
      // Recorded as the answer arrives, not as it is relayed: the server's news of the task may come in the same read.
      const created = createdTaskOf(message.result);
      if (created) core.serverTasks.created(leg, created.taskId, created.status);
      return;
    }
    case 'error':
      if (!leg.answered(message.id, { kind: 'error', error: message.error })) return;
      // The elicitations such an error names are the server's, as those it asks for (serverRequest).
      if (core.naming.federated && message.error.code === URL_ELICITATION_REQUIRED) requiredElicitations(core, leg, message.error.data);
      return;
    case 'request':
      // Run on its own (it awaits the audit): a fault in it must not go unhandled, as no caller waits for it.
      return void serverRequest(core, leg, message).catch((error: unknown) => core.upstreamMessageFailed(leg, error));
    case 'notification':
      return upstreamNotification(core, leg, message);
  }
}

/**
 * A request a server makes of the client (sampling, elicitation, roots, client-side tasks):
 * audited as the server sent it, then relayed (federated: as askOut rewrites it). Refused
 * while the broker cannot confirm the session's grants.
 */
async function serverRequest(core: SessionCore, leg: Leg, message: JsonRpcMessage & { kind: 'request' }): Promise<void> {
  // The broker keeps the connection to a server alive itself; a ping is no business of the client's.
  if (message.method === 'ping') return leg.send({ jsonrpc: '2.0', id: message.id, result: {} });
  const elicitationId = core.naming.federated ? urlElicitationOf(message.method, message.params) : undefined;
  const refuse = async (reason: string) => {
    await core.audit({ ...serverRequestEvent(message, 'DENIED', { reason }), server: leg.server }).catch(() => {});
    leg.send(SERVER_REQUEST_REFUSED[reason]!(message.id));
  };
  const held =
    (SERVER_REQUESTS.has(message.method) || leg.allowMethods.has(message.method) ? null : 'method_not_granted') ??
    foreignTask(core, leg, message) ??
    (core.relatesToOthers(leg, message.params) ? 'unknown_task' : null) ??
    // Taken before anything is awaited: a cancellation of it that comes meanwhile finds it.
    leg.holdRequestOfClient(message.id);
  if (typeof held === 'string') return refuse(held);
  const refused =
    (core.unconfirmed && !(await core.reconfirm()) ? 'broker_unavailable' : null) ??
    // Taken before it is relayed: another server's completion for it is dropped (upstreamNotification).
    (elicitationId !== undefined && !core.elicitationBy(elicitationId, leg) ? 'elicitation_id_in_use' : null);
  if (refused) {
    leg.requestOfClientOver(message.id, held);
    return refuse(refused);
  }
  try {
    await core.audit({ ...serverRequestEvent(message, 'SUCCESS'), server: leg.server });
  } catch {
    leg.requestOfClientOver(message.id, held);
    return leg.send(errorReply(message.id, INTERNAL_ERROR, 'the broker could not audit this request, so it was not relayed'));
  }
  if (core.isEnded() || core.legs.get(leg.server) !== leg) return;
  const asked = isRecord(message.params) && core.naming.federated ? askOut(leg.server, message.method, message.params) : message.params;
  const params = isRecord(asked) ? metaOut(core, leg.server, asked) : asked;
  core.relayServerRequest(leg, message.id, held, message.method, params);
}

/** The requests MCP lets a server make of its client (ping is answered by the broker); others only as the operator's allowMethods say. */
const SERVER_REQUESTS = new Set(['sampling/createMessage', 'elicitation/create', 'roots/list', 'tasks/get', 'tasks/result', 'tasks/list', 'tasks/cancel']);

/** The answer to a server's request of the client that the broker refused, by reason. */
const SERVER_REQUEST_REFUSED: Record<string, (id: JsonRpcId) => JsonRpcError> = {
  method_not_granted: (id) => errorReply(id, -32601, 'Method not found: the broker relays to the client only the requests MCP defines for servers'),
  duplicate_request_id: (id) => errorReply(id, INVALID_REQUEST, 'Invalid Request: a request of yours by that id is still waiting for the client'),
  too_many_requests: (id) => errorReply(id, INTERNAL_ERROR, `${MAX_REQUESTS_OF_CLIENT} requests of yours are already waiting for the client; ask again once one is answered`, { reason: 'too_many_requests' }),
  unknown_task: (id) => errorReply(id, -32602, 'Invalid params: no task by that id is this session\'s'),
  not_relayed_by_federation: (id) => errorReply(id, -32602, 'Invalid params: a task listing would show other servers\' tasks'),
  elicitation_id_in_use: (id) => errorReply(id, -32602, 'Invalid params: another server of this session asked for an elicitation by that id'),
  broker_unavailable: (id) => errorReply(id, INTERNAL_ERROR, 'the broker cannot confirm the session\'s grants right now, so the request was not relayed', { reason: 'broker_unavailable' }),
};

/** The URL-mode elicitations a server's -32042 error names, recorded as that server's. */
function requiredElicitations(core: SessionCore, leg: Leg, data: unknown): void {
  const elicitations = isRecord(data) && Array.isArray(data.elicitations) ? data.elicitations : [];
  for (const entry of elicitations) if (isRecord(entry) && typeof entry.elicitationId === 'string') core.elicitationBy(entry.elicitationId, leg);
}

/**
 * Tasks the client runs for servers (sampling or elicitation as a task) belong to the
 * server that asked: another server may not read, cancel or list them. A single-server
 * session has one server, whose tasks they all are.
 */
function foreignTask(core: SessionCore, leg: Leg, message: JsonRpcMessage & { kind: 'request' }): string | null {
  if (!core.naming.federated || !message.method.startsWith('tasks/')) return null;
  if (message.method === 'tasks/list') return 'not_relayed_by_federation';
  const taskId = isRecord(message.params) ? message.params.taskId : undefined;
  return typeof taskId === 'string' && core.clientTasks.get(taskId) === leg ? null : 'unknown_task';
}

/** A notification from a server, with the names in it made the client's. */
function upstreamNotification(core: SessionCore, leg: Leg, message: Notification): void {
  const params = isRecord(message.params) ? message.params : undefined;
  const { naming } = core;
  // News relating to someone else's task (a server whose store all its clients share) is not this client's.
  if (core.relatesToOthers(leg, params)) return;
  switch (message.method) {
    case 'notifications/progress': {
      const entry = params && typeof params.progressToken === 'string' ? core.progress.get(params.progressToken) : undefined;
      // Only for a request this server was sent: no server reports progress on another's.
      if (!entry || !entry.servers.has(leg.server)) return;
      return core.notifyClient(message.method, { ...params, progressToken: entry.clientToken });
    }
    case 'notifications/cancelled': {
      const requestId = params?.requestId;
      // Cancelled while it was audited, it is never relayed (relayServerRequest): the client need not hear of it.
      const id = isId(requestId) ? leg.requestOfClientOver(requestId) : undefined;
      if (id === undefined) return;
      core.forgetServerRequest(id);
      return core.notifyClient(message.method, { ...params, requestId: id });
    }
    case 'notifications/message':
      if (!naming.federated || !params) return core.notifyClient(message.method, message.params);
      return core.notifyClient(message.method, { ...metaOut(core, leg.server, params), logger: typeof params.logger === 'string' ? `${leg.server}/${params.logger}` : leg.server });
    case 'notifications/resources/updated':
      // Only news of a resource the grants allow: the URI alone may say what the client may not read.
      if (typeof params?.uri !== 'string' || !leg.grants.allows({ kind: 'resource', uri: params.uri })) return;
      if (!naming.federated) return core.notifyClient(message.method, message.params);
      return core.notifyClient(message.method, { ...params, uri: naming.uriOut(leg.server, params.uri) });
    case 'notifications/elicitation/complete': {
      if (!naming.federated) return core.notifyClient(message.method, message.params);
      // Only for an elicitation this server asked for: no server completes another's (nor one twice).
      const elicitationId = params?.elicitationId;
      if (typeof elicitationId !== 'string' || core.elicitations.get(elicitationId) !== leg) return;
      core.elicitations.delete(elicitationId);
      return core.notifyClient(message.method, metaOut(core, leg.server, params!));
    }
    case 'notifications/tasks/status':
      // News of this session's own tasks only: a server with one store for every client may tell of others'.
      if (typeof params?.taskId !== 'string' || !core.serverTasks.owns(leg.server, params.taskId)) return;
      core.serverTasks.heard(leg, params);
      return core.notifyClient(message.method, metaOut(core, leg.server, naming.federated ? taskOut(naming, leg.server, params) : params));
    default:
      if (message.method.endsWith('/list_changed')) naming.listsChanged();
      if (message.method === 'notifications/tools/list_changed') leg.toolsAdded();
      return core.notifyClient(message.method, params ? metaOut(core, leg.server, params) : message.params);
  }
}
