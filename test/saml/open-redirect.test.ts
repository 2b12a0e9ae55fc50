import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestIdp, postToAcs, startLogin, configTrusting } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/**
 * Return paths a browser would follow to another host once dot segments are resolved, a
 * backslash is read as a slash, or a control character is dropped; plain, encoded and
 * double-encoded. Each must end as `/`.
 */
const FOREIGN = [
  'https://evil.example/x',
  '//evil.example/x',
  '/\\evil.example/x',
  '\\\\evil.example/x',
  '/..//evil.example/x',
  '/../..//evil.example/x',
  '/a/../..//evil.example/x',
  '/.//evil.example/x',
  '/%2e%2e//evil.example/x',
  '/%2E%2E//evil.example/x',
  '/.%2e//evil.example/x',
  '/%2e.//evil.example/x',
  '/%2e//evil.example/x',
  '/./\\evil.example/x',
  '/\tevil.example/x',
  '/\t/evil.example/x',
  '/\n/evil.example/x',
  '/\r\n//evil.example/x',
  'javascript:alert(1)',
  ' /x',
  '',
];

/** Odd but same-origin: kept as the browser will read them (still paths on our host). */
const LOCAL: [string, string][] = [
  ['/requests?mine=1#top', '/requests?mine=1#top'],
  ['/%2f%2fevil.example/x', '/%2f%2fevil.example/x'],
  ['/%5c%5cevil.example/x', '/%5c%5cevil.example/x'],
  ['/%252e%252e//evil.example/x', '/%252e%252e//evil.example/x'],
  ['/%09/evil.example/x', '/%09/evil.example/x'],
  ['/a/b/../c', '/a/c'],
];

describe('return paths after sign-in (no open redirect)', () => {
  let server: TestServer;
  let corp: TestIdp;
  beforeAll(async () => {
    corp = await createTestIdp('corp');
    server = await startTestServer({ config: configTrusting([corp]) });
  });
  afterAll(() => server.close());

  it('sends a login start with a foreign returnTo to the IdP with RelayState "/"', async () => {
    for (const returnTo of FOREIGN) expect((await startLogin(server.url, 'corp', returnTo)).relayState, JSON.stringify(returnTo)).toBe('/');
  });

  it('redirects the ACS to "/" when RelayState is foreign (RelayState is unsigned: anyone can post one)', async () => {
    for (const relayState of FOREIGN) {
      const { requestId } = await startLogin(server.url, 'corp');
      const result = await postToAcs(server.url, 'corp', corp.signedResponse({ inResponseTo: requestId }), relayState);
      expect(result.status, JSON.stringify(relayState)).toBe(303);
      expect(result.location, JSON.stringify(relayState)).toBe('/');
    }
  });

  it('keeps same-origin paths, normalised, on both ends', async () => {
    for (const [path, normalised] of LOCAL) {
      const { requestId, relayState } = await startLogin(server.url, 'corp', path);
      expect(relayState).toBe(normalised);
      const result = await postToAcs(server.url, 'corp', corp.signedResponse({ inResponseTo: requestId }), path);
      expect(result.location, path).toBe(normalised);
    }
  });
});
