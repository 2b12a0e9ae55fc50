import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackCall {
  /** `webhook`, or the Web API method: `chat.postMessage`, `chat.update`, `chat.postEphemeral`, `views.open`, `users.info`. */
  method: string;
  authorization: string | undefined;
  body: { channel?: string; ts?: string; text: string; blocks: { type: string; [key: string]: unknown }[]; [key: string]: unknown };
}

/** What the next calls get instead of success: an HTTP status, or a Web API `{ ok: false, error }`. */
export type SlackRefusal = { status: number } | { error: string };

/** A Slack user as users.info describes them (the fields Portcullis reads). */
export interface SlackUser {
  id: string;
  team_id: string;
  deleted: boolean;
  is_bot: boolean;
  /** A guest (multi-channel, and single-channel: ultra). */
  is_restricted: boolean;
  is_ultra_restricted: boolean;
  /** An external member of a shared channel (Slack Connect); absent otherwise. */
  is_stranger?: boolean;
  is_email_confirmed: boolean;
  profile: { email?: string };
}

export interface SlackReceiver {
  /** Incoming-webhook URL and Web API base of this receiver. */
  webhookUrl: string;
  apiBaseUrl: string;
  calls: SlackCall[];
  /** Queued answers, consumed one per call before the receiver succeeds again. */
  refusals: SlackRefusal[];
  /** Holds the next call unanswered until released (a slow Slack, a first post still in flight); its answer is decided on release (refusals queued by then apply). */
  holdNext(): SlackHold;
  /** The workspace's users, by id, as users.info answers. */
  users: Map<string, SlackUser>;
  close(): Promise<void>;
}

export interface SlackHold {
  /** Resolves when the held call arrived. */
  arrived: Promise<void>;
  release(): void;
}

const MESSAGE_METHODS = new Set(['chat.postMessage', 'chat.update', 'chat.postEphemeral', 'views.open', 'users.info']);

/**
 * A Slack-compatible receiver on 127.0.0.1: an incoming webhook (`POST /services/...`,
 * answering `ok`) and the Web API methods Portcullis calls (bearer token checked; JSON or,
 * for users.info, a form), recording every call: chat.postMessage / chat.update (`ts`
 * issued), chat.postEphemeral, views.open, users.info (from `users`).
 */
export async function startSlackReceiver(options: { token: string }): Promise<SlackReceiver> {
  const calls: SlackCall[] = [];
  const refusals: SlackRefusal[] = [];
  const holds: { arrive: () => void; released: Promise<void> }[] = [];
  const users = new Map<string, SlackUser>();
  let issued = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const hold = holds.shift();
      if (hold !== undefined) {
        hold.arrive();
        await hold.released;
      }
      const method = req.url?.startsWith('/services/') ? 'webhook' : (req.url ?? '').replace(/^\/api\//, '');
      const raw = Buffer.concat(chunks).toString('utf8');
      const body = (req.headers['content-type']?.startsWith('application/x-www-form-urlencoded') ? Object.fromEntries(new URLSearchParams(raw)) : JSON.parse(raw)) as SlackCall['body'];
      const refusal = refusals.shift();
      if (refusal !== undefined && 'status' in refusal) return void res.writeHead(refusal.status).end('refused_by_test');
      const reply = (json: unknown) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      if (refusal !== undefined) return reply({ ok: false, error: refusal.error });
      if (method === 'webhook') {
        calls.push({ method, authorization: req.headers.authorization, body });
        return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      }
      if (req.headers.authorization !== `Bearer ${options.token}`) return reply({ ok: false, error: 'invalid_auth' });
      if (!MESSAGE_METHODS.has(method)) return reply({ ok: false, error: 'unknown_method' });
      calls.push({ method, authorization: req.headers.authorization, body });
      if (method === 'users.info') {
        const user = users.get(String(body.user));
        return reply(user ? { ok: true, user } : { ok: false, error: 'user_not_found' });
      }
      if (method === 'views.open' || method === 'chat.postEphemeral') return reply({ ok: true });
      issued += 1;
      return reply({ ok: true, channel: 'C0PORTCULL', ts: method === 'chat.update' ? body.ts : `1764480000.00000${issued}` });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    webhookUrl: `http://127.0.0.1:${port}/services/T000/B000/webhook-secret-7d1e`,
    apiBaseUrl: `http://127.0.0.1:${port}/api`,
    calls,
    refusals,
    holdNext: () => {
      let arrive = () => {};
      let release = () => {};
      const arrived = new Promise<void>((resolve) => (arrive = resolve));
      holds.push({ arrive, released: new Promise<void>((resolve) => (release = resolve)) });
      return { arrived, release: () => release() };
    },
    users,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** How a test signs (or mis-signs) an action: the secret, and the timestamp in seconds (now unless given). */
export interface ActionSigning {
  secret: string;
  timestampSeconds?: number;
  /** Sent instead of the computed signature (a forgery). */
  signature?: string;
}

/** An action as Slack posts it to the Interactivity request URL: `payload=<json>`, form-encoded, signed with the app's signing secret. */
export function signedAction(payload: unknown, signing: ActionSigning): { body: string; headers: Record<string, string> } {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = String(signing.timestampSeconds ?? Math.floor(Date.now() / 1000));
  const signature = signing.signature ?? `v0=${createHmac('sha256', signing.secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return { body, headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': timestamp, 'x-slack-signature': signature } };
}

/** Posts a signed action to a broker; its status and body. */
export async function postAction(url: string, action: { body: string; headers: Record<string, string> }): Promise<{ status: number; body: string }> {
  const res = await fetch(`${url}/integrations/slack/actions`, { method: 'POST', headers: action.headers, body: action.body });
  return { status: res.status, body: await res.text() };
}

/** A button click in a message, as Slack's block_actions payload carries it. */
export function buttonClick(actionId: string, requestId: string, clicker: { user: string; team: string }): unknown {
  return { type: 'block_actions', team: { id: clicker.team }, user: { id: clicker.user, team_id: clicker.team }, channel: { id: 'C0PORTCULL' }, trigger_id: `trigger-${actionId}`, actions: [{ action_id: actionId, value: requestId, type: 'button' }] };
}

/** The Deny dialog submitted, as Slack's view_submission payload carries it. */
export function denySubmission(requestId: string, reason: string, clicker: { user: string; team: string }): unknown {
  return { type: 'view_submission', team: { id: clicker.team }, user: { id: clicker.user, team_id: clicker.team }, view: { callback_id: 'portcullis-deny', private_metadata: requestId, state: { values: { reason: { reason: { type: 'plain_text_input', value: reason } } } } } };
}
