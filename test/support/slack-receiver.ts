import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackCall {
  /** `webhook`, `chat.postMessage` or `chat.update`. */
  method: string;
  authorization: string | undefined;
  body: { channel?: string; ts?: string; text: string; blocks: { type: string; [key: string]: unknown }[] };
}

/** What the next calls get instead of success: an HTTP status, or a Web API `{ ok: false, error }`. */
export type SlackRefusal = { status: number } | { error: string };

export interface SlackReceiver {
  /** Incoming-webhook URL and Web API base of this receiver. */
  webhookUrl: string;
  apiBaseUrl: string;
  calls: SlackCall[];
  /** Queued answers, consumed one per call before the receiver succeeds again. */
  refusals: SlackRefusal[];
  /** Holds the next call unanswered until released (a slow Slack, a first post still in flight); its answer is decided on release (refusals queued by then apply). */
  holdNext(): SlackHold;
  close(): Promise<void>;
}

export interface SlackHold {
  /** Resolves when the held call arrived. */
  arrived: Promise<void>;
  release(): void;
}

/**
 * A Slack-compatible receiver on 127.0.0.1: an incoming webhook (`POST /services/...`,
 * answering `ok`) and chat.postMessage / chat.update (bearer token checked, `ts` issued),
 * recording every payload.
 */
export async function startSlackReceiver(options: { token: string }): Promise<SlackReceiver> {
  const calls: SlackCall[] = [];
  const refusals: SlackRefusal[] = [];
  const holds: { arrive: () => void; released: Promise<void> }[] = [];
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
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SlackCall['body'];
      const refusal = refusals.shift();
      if (refusal !== undefined && 'status' in refusal) return void res.writeHead(refusal.status).end('refused_by_test');
      const reply = (json: unknown) => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(json));
      if (refusal !== undefined) return reply({ ok: false, error: refusal.error });
      if (method === 'webhook') {
        calls.push({ method, authorization: req.headers.authorization, body });
        return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      }
      if (req.headers.authorization !== `Bearer ${options.token}`) return reply({ ok: false, error: 'invalid_auth' });
      if (method !== 'chat.postMessage' && method !== 'chat.update') return reply({ ok: false, error: 'unknown_method' });
      calls.push({ method, authorization: req.headers.authorization, body });
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
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
