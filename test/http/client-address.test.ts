import { createServer, request as httpRequest, Agent } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { clientAddressOf } from '../../server/http/client-address.js';

/**
 * The client address of requests that never pass through express, as `req.ip` gives it,
 * on one keep-alive connection: the address is remembered per connection, so a later
 * request whose X-Forwarded-For differs must still get its own. Real node:http on loopback.
 */

const LOOPBACK = /^(::ffff:)?127\.0\.0\.1$/;

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** Sends each request in turn on one connection; what the server saw: the address and the connection's port. */
async function addressesOf(trustedProxies: string[], forwarded: (string | undefined)[]): Promise<{ address: string | undefined; port: number | undefined }[]> {
  const addressOf = clientAddressOf(trustedProxies);
  const server = createServer((req, res) => res.end(JSON.stringify({ address: addressOf(req), port: req.socket.remotePort })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  close = async () => {
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  const { port } = server.address() as AddressInfo;
  const seen = [];
  for (const header of forwarded) {
    seen.push(
      await new Promise<{ address: string | undefined; port: number | undefined }>((resolve, reject) => {
        const req = httpRequest({ port, host: '127.0.0.1', agent, headers: header === undefined ? {} : { 'x-forwarded-for': header } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolve(JSON.parse(body) as { address: string | undefined; port: number | undefined }));
        });
        req.on('error', reject);
        req.end();
      }),
    );
  }
  return seen;
}

describe('clientAddressOf', () => {
  it('gives each request on one connection the address its own X-Forwarded-For names, behind a trusted proxy', async () => {
    const seen = await addressesOf(['loopback'], ['203.0.113.1', '203.0.113.1', '203.0.113.2', undefined, '198.51.100.7, 203.0.113.3']);
    expect(new Set(seen.map((s) => s.port)).size).toBe(1);
    expect(seen.slice(0, 3).map((s) => s.address)).toEqual(['203.0.113.1', '203.0.113.1', '203.0.113.2']);
    expect(seen[3]!.address).toMatch(LOOPBACK);
    // The nearest address the trusted proxy did not add: express reads the header from its end.
    expect(seen[4]!.address).toBe('203.0.113.3');
  });

  it('ignores X-Forwarded-For from a peer it does not trust, on every request of the connection', async () => {
    const seen = await addressesOf([], [undefined, '203.0.113.1', '203.0.113.2']);
    expect(new Set(seen.map((s) => s.port)).size).toBe(1);
    for (const { address } of seen) expect(address).toMatch(LOOPBACK);
  });

  it('answers alike for a proxy that is trusted only by its address range', async () => {
    const seen = await addressesOf(['10.0.0.0/8'], ['203.0.113.1', '203.0.113.2']);
    for (const { address } of seen) expect(address).toMatch(LOOPBACK);
  });
});
