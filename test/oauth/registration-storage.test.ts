import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { OAuthClientRecord } from '../../server/oauth/types.js';
import { authorizeUrl, oauthConfig, pkcePair, postForm, registerClient, resourceUrl, TestBrowser } from '../support/oauth-client.js';
import { createTestIdp } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/** The store's capacity for OAuth clients (and other one-time values) in this suite. */
const CAPACITY = 20;
const REDIRECT = 'http://127.0.0.1:47031/cb';

/**
 * Anyone may register a client (RFC 7591: MCP clients expect open registration). Stored,
 * registrations let anyone fill the store, and then nobody could register for a day. A
 * registration is sealed into its client id instead and stored only once a person obtained
 * tokens through it.
 */
describe('registrations take no room in the store until used', () => {
  let idp: TestIdp;
  let server: TestServer;

  beforeAll(async () => {
    idp = await createTestIdp('corp');
    const config = oauthConfig(idp);
    const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-registrations-')), clock: systemClock, oneTimeValueCapacity: CAPACITY });
    server = await startTestServer({ config, stores, clock: systemClock });
  });
  afterAll(() => server.close());

  const register = async () => (await registerClient(server.url, { client_name: 'Flood', redirect_uris: [REDIRECT] })).body.client_id as string;

  async function tokensThrough(clientId: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const pkce = pkcePair();
    const url = authorizeUrl({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: pkce.challenge, code_challenge_method: 'S256', resource: resourceUrl('a') });
    const code = (await new TestBrowser(server.url, idp).approve(url)).searchParams.get('code')!;
    return postForm(server.url, '/oauth/token', { grant_type: 'authorization_code', code, code_verifier: pkce.verifier, redirect_uri: REDIRECT, client_id: clientId });
  }

  it('registers past the store capacity, and a client registered after the flood gets tokens, and is stored then', async () => {
    const flood = [];
    for (let i = 0; i < 3 * CAPACITY; i++) flood.push(await register());
    expect(new Set(flood).size).toBe(3 * CAPACITY);
    for (const id of flood.slice(0, 3)) expect(await server.stores.oauth.clients.get(id)).toBeNull();

    const latecomer = await register();
    expect(await tokensThrough(latecomer)).toMatchObject({ status: 200, body: { token_type: expect.stringMatching(/^bearer$/i) } });
    expect(await server.stores.oauth.clients.get(latecomer)).toMatchObject<Partial<OAuthClientRecord>>({ clientId: latecomer, clientName: 'Flood', redirectUris: [REDIRECT], registration: 'dcr' });
  });

  it('still serves a client once the store is too full to keep it', async () => {
    const now = Date.now();
    for (let i = 0; i < CAPACITY; i++) {
      await server.stores.oauth.clients.put(`filler${i}`, { clientId: `filler${i}`, clientName: 'x', redirectUris: [REDIRECT], registration: 'dcr', createdAt: now, expiresAt: now + 3_600_000 }).catch(() => {});
    }
    const client = await register();
    expect((await tokensThrough(client)).status).toBe(200);
  });

  it('refuses a client id altered by one character, or sealed by another deployment', async () => {
    const id = await register();
    const flipped = `${id.slice(0, 40)}${id[40] === 'A' ? 'B' : 'A'}${id.slice(41)}`;
    const elsewhere = await startTestServer({ config: oauthConfig(idp), clock: systemClock });
    try {
      const foreign = (await registerClient(elsewhere.url, { client_name: 'Elsewhere', redirect_uris: [REDIRECT] })).body.client_id as string;
      for (const clientId of [flipped, foreign]) {
        const answer = await new TestBrowser(server.url, idp).get(authorizeUrl({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, code_challenge: pkcePair().challenge, code_challenge_method: 'S256', resource: resourceUrl('a') }));
        expect({ status: answer.status, text: await answer.text() }).toMatchObject({ status: 400, text: expect.stringContaining('unknown client_id') });
      }
    } finally {
      await elsewhere.close();
    }
  });

  it('refuses a registration too long to travel as a client id', async () => {
    const long = Array.from({ length: 20 }, (_, i) => `http://127.0.0.1:${47100 + i}/${'c'.repeat(180)}`);
    expect(await registerClient(server.url, { client_name: 'Long', redirect_uris: long })).toMatchObject({ status: 400, body: { error: 'invalid_client_metadata' } });
  });
});
