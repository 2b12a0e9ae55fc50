import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  body: string;
  /** Whether Portcullis-Signature verified against the receiver's secret (the documented check). */
  verified: boolean;
  /** performance.now() when the body was complete (the bench times deliveries by it). */
  at: number;
}

/** What the receiver answers the n-th request (0-based): a status, or 'hang' (never answer). */
export type Answer = number | 'hang';

/**
 * A webhook receiver on loopback that verifies each request's signature as docs/notifications.md
 * tells receivers to, records it, and answers as the test scripts it.
 */
export async function startWebhookReceiver(secret: string, answer: (n: number) => Answer = () => 200) {
  const received: ReceivedWebhook[] = [];
  const hanging: ServerResponse[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const n = received.length;
      received.push({ headers: req.headers, body, verified: verify(secret, String(req.headers['portcullis-signature'] ?? ''), body), at: performance.now() });
      const reply = answer(n);
      if (reply === 'hang') hanging.push(res);
      else res.writeHead(reply, { 'content-type': 'text/plain' }).end('receiver body, never read');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    /** Delivery ids in arrival order. */
    ids: () => received.map((r) => String(r.headers['portcullis-delivery'])),
    close: async () => {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;

function verify(secret: string, header: string, body: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header);
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'));
}
