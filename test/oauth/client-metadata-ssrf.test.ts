import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { fetchClientMetadata, isInternalAddress } from '../../server/oauth/client-metadata-fetch.js';
import { OAuthClients } from '../../server/oauth/clients.js';
import { OAuthError } from '../../server/oauth/oauth-error.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { ManualClock } from '../support/manual-clock.js';
import { oauthConfig } from '../support/oauth-client.js';
import { createTestIdp } from '../support/test-idp.js';

const DEV = { maxBytes: 5 * 1024, timeoutMs: 500, allowLoopback: true };
const PRODUCTION = { ...DEV, allowLoopback: false };
const servers: Server[] = [];

async function serve(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: unknown) => (error instanceof OAuthError ? { error: error.error, description: error.description } : error),
  );

afterEach(() => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    server.close();
  }
});

describe('Client ID Metadata Document fetches never reach inside our network (SSRF)', () => {
  it('classifies loopback, private, link-local, CGNAT, unique-local and mapped addresses as internal', () => {
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:10.0.0.1', '::ffff:127.0.0.1', '::ffff:7f00:1', '::127.0.0.1', '::7f00:1', '64:ff9b::a9fe:a9fe', '64:ff9b:1::a9fe:a9fe', '2002:7f00:1::1', '2001:0:4136:e378:8000:63bf:3fff:fdd2']) {
      expect(isInternalAddress(address), address).toBe(true);
    }
    for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(isInternalAddress(address), address).toBe(false);
  });

  it('refuses http outside development mode', async () => {
    expect(await refusal(fetchClientMetadata('http://clients.example.com/meta.json', PRODUCTION))).toMatchObject({ error: 'invalid_client', description: expect.stringContaining('https') });
  });

  it('refuses a private or loopback address, whether literal or resolved', async () => {
    expect(await refusal(fetchClientMetadata('https://10.0.0.7/meta.json', PRODUCTION))).toMatchObject({ description: expect.stringContaining('private network') });
    expect(await refusal(fetchClientMetadata('https://[::1]/meta.json', PRODUCTION))).toMatchObject({ description: expect.stringContaining('private network') });
    // localhost resolves to loopback: refused at connect time, by the lookup the socket itself uses.
    expect(await refusal(fetchClientMetadata('https://localhost:9/meta.json', PRODUCTION))).toMatchObject({ description: expect.stringContaining('private network') });
  });

  it('refuses a document larger than maxBytes, announced or streamed', async () => {
    const big = JSON.stringify({ padding: 'x'.repeat(10_000) });
    const announced = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(big));
    expect(await refusal(fetchClientMetadata(`${announced}/meta.json`, DEV))).toMatchObject({ description: expect.stringContaining('larger than') });
    const streamed = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(big.slice(0, 4000));
      res.end(big.slice(4000));
    });
    expect(await refusal(fetchClientMetadata(`${streamed}/meta.json`, DEV))).toMatchObject({ description: expect.stringContaining('larger than') });
  });

  it('gives up on a slow server after timeoutMs, headers or body', async () => {
    const silent = await serve(() => {});
    expect(await refusal(fetchClientMetadata(`${silent}/meta.json`, DEV))).toMatchObject({ description: expect.stringContaining('500 ms') });
    const trickle = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
    });
    expect(await refusal(fetchClientMetadata(`${trickle}/meta.json`, DEV))).toMatchObject({ description: expect.stringContaining('500 ms') });
  });

  it('follows no redirect, and takes JSON only', async () => {
    const redirecting = await serve((_req, res) => res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data' }).end());
    expect(await refusal(fetchClientMetadata(`${redirecting}/meta.json`, DEV))).toMatchObject({ description: expect.stringContaining('302') });
    const html = await serve((_req, res) => res.writeHead(200).end('<html>'));
    expect(await refusal(fetchClientMetadata(`${html}/meta.json`, DEV))).toMatchObject({ description: expect.stringContaining('not JSON') });
  });

  it('refuses a document naming another client_id, a secret, or no path; caches a good one in the store', async () => {
    const idp = await createTestIdp('corp');
    const config = oauthConfig(idp);
    const clock = new ManualClock();
    const stores = await createEmbeddedStores({ dataDir: config.store.dataDir, clock });
    try {
      let hits = 0;
      const base = await serve((req, res) => {
        hits++;
        const self = `http://127.0.0.1:${(req.socket.address() as AddressInfo).port}${req.url}`;
        const documents: Record<string, unknown> = {
          '/good.json': { client_id: self, client_name: 'Good', redirect_uris: ['http://127.0.0.1/cb'] },
          '/other.json': { client_id: 'https://elsewhere.example.com/meta.json', redirect_uris: ['http://127.0.0.1/cb'] },
          '/secret.json': { client_id: self, client_secret: 's3cret', redirect_uris: ['http://127.0.0.1/cb'] },
        };
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(documents[req.url ?? '']));
      });
      const clients = new OAuthClients({ clients: stores.oauth.clients, keys: stores.cursorKeys, audit: stores.audit, clock, config: config.oauth });
      expect(await refusal(clients.find(`${base}/other.json`, undefined))).toMatchObject({ error: 'invalid_client' });
      expect(await refusal(clients.find(`${base}/secret.json`, undefined))).toMatchObject({ error: 'invalid_client' });
      expect(await refusal(clients.find(`${base}/`, undefined))).toMatchObject({ error: 'invalid_client' });
      hits = 0;
      expect(await clients.find(`${base}/good.json`, undefined)).toMatchObject({ clientName: 'Good', registration: 'cimd' });
      await clients.find(`${base}/good.json`, undefined);
      expect(hits).toBe(1);
      clock.advance(config.oauth.clientMetadataDocuments.cacheSeconds * 1000);
      await clients.find(`${base}/good.json`, undefined);
      expect(hits).toBe(2);
    } finally {
      await stores.close();
    }
  });
});
