import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { configTrusting, createTestIdp } from '../support/test-idp.js';

/** RFC 7235 §3.1: every 401 says how to authenticate; RFC 6750 §3: Bearer, with why a token was refused. */
describe('every 401 carries a WWW-Authenticate challenge', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: configTrusting([await createTestIdp('corp')]) });
  });
  afterAll(() => server.close());

  const upgrade = (path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; challenge: string | undefined }>((resolve) => {
      const ws = new WebSocket(`${server.wsUrl}${path}`, 'mcp', { headers });
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] }));
      ws.once('error', () => {});
    });

  it('on refused MCP upgrades: bare without a credential, invalid_token with a bad one', async () => {
    expect(await upgrade('/mcp/ws/everything', {})).toEqual({ status: 404, challenge: undefined });
    expect(await upgrade('/mcp/ws', {})).toEqual({ status: 401, challenge: 'Bearer realm="portcullis"' });
    expect(await upgrade('/mcp/ws', { authorization: 'Bearer pcl_bad_bad' })).toEqual({ status: 401, challenge: expect.stringMatching(/^Bearer realm="portcullis", error="invalid_token", error_description="invalid or expired API token"$/) });
    expect(await upgrade('/mcp/ws', { authorization: 'Basic x' })).toEqual({ status: 401, challenge: expect.stringMatching(/error="invalid_request"/) });
  });

  it('on GraphQL over HTTP with a refused token', async () => {
    const res = await fetch(`${server.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer pcl_bad_bad' }, body: '{"query":"{ me { email } }"}' });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="portcullis", error="invalid_token"/);
  });

  it('on the CLI login and the ACS', async () => {
    const token = await fetch(`${server.url}/auth/cli/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'a'.repeat(43), code_verifier: 'b'.repeat(43) }) });
    expect(token.status).toBe(401);
    expect(token.headers.get('www-authenticate')).toMatch(/^Bearer realm="portcullis", error="invalid_token"/);
    const finish = await fetch(`${server.url}/auth/cli/finish?port=49152&state=${'s'.repeat(16)}&code_challenge=${'c'.repeat(43)}&code_challenge_method=S256`);
    expect(finish.status).toBe(401);
    expect(finish.headers.get('www-authenticate')).toBe('Bearer realm="portcullis"');
    const acs = await fetch(`${server.url}/auth/saml/corp/acs`, { method: 'POST', body: new URLSearchParams({ SAMLResponse: Buffer.from('<x/>').toString('base64') }), redirect: 'manual' });
    expect(acs.status).toBe(401);
    expect(acs.headers.get('www-authenticate')).toBe('Bearer realm="portcullis"');
  });
});
