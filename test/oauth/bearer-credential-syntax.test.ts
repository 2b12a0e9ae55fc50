import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INITIALIZE, mcpFetch } from '../support/mcp-http.js';
import { DCR_METADATA, MemoryOAuthProvider, oauthConfig, publicUrlFetch, resourceUrl } from '../support/oauth-client.js';
import { createTestIdp, TEST_PUBLIC_URL } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const BARE_CHALLENGE = `Bearer realm="portcullis", resource_metadata="${TEST_PUBLIC_URL}/.well-known/oauth-protected-resource/mcp/a", scope="mcp"`;

/** RFC 6750 §3 and §3.1 at an MCP endpoint over HTTP: what each kind of Authorization header is answered. */
describe('the Authorization header at an MCP endpoint (RFC 6750)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: oauthConfig(await createTestIdp('corp')) });
  });
  afterAll(() => server.close());

  const answer = async (headers: Record<string, string>) => {
    const res = await mcpFetch(`${server.url}/mcp/a`, INITIALIZE, { headers });
    return { status: res.status, challenge: res.headers.get('www-authenticate') };
  };

  it('answers a request without credentials 401 with the bare challenge: no error code (§3)', async () => {
    expect(await answer({})).toEqual({ status: 401, challenge: BARE_CHALLENGE });
  });

  it('answers credentials of another scheme, or a Bearer with no token (an unset token variable), as none: 401, bare challenge', async () => {
    for (const authorization of ['Basic abc', 'Bearer', 'Bearer ', 'bearer   ']) {
      expect(await answer({ authorization }), authorization).toEqual({ status: 401, challenge: BARE_CHALLENGE });
    }
  });

  it('answers a malformed Bearer token 400 invalid_request, with the challenge still naming the metadata (§3.1)', async () => {
    for (const authorization of ['Bearer a b', 'Bearer ###', 'Bearer  a=b']) {
      expect(await answer({ authorization }), authorization).toEqual({
        status: 400,
        challenge: `${BARE_CHALLENGE}, error="invalid_request", error_description="malformed Authorization: expected Bearer <token>"`,
      });
    }
  });

  it('still takes a well-formed Bearer token it does not know as invalid_token (401)', async () => {
    const { status, challenge } = await answer({ authorization: 'bearer pco_unknown_token' });
    expect(status).toBe(401);
    expect(challenge).toContain('error="invalid_token"');
  });

  it('lets the MCP SDK client start OAuth discovery from the bare challenge, sending no credential, another scheme or an empty Bearer', async () => {
    for (const headers of [{}, { Authorization: 'Basic abc' }, { Authorization: 'Bearer ' }] as Record<string, string>[]) {
      const provider = new MemoryOAuthProvider(DCR_METADATA.redirect_uris[0]!, DCR_METADATA);
      const challenges: (string | null)[] = [];
      const toBroker = publicUrlFetch(server.url);
      const fetchFn: typeof fetch = async (input, init) => {
        const res = await toBroker(input, init);
        if (res.status === 401) challenges.push(res.headers.get('www-authenticate'));
        return res;
      };
      const transport = new StreamableHTTPClientTransport(new URL(resourceUrl('a')), { authProvider: provider, fetch: fetchFn, requestInit: { headers } });
      await expect(new Client({ name: 'discovery-test', version: '1' }).connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
      expect(challenges).toEqual([BARE_CHALLENGE]);
      expect(provider.authorizationUrl?.searchParams.get('resource')).toBe(resourceUrl('a'));
    }
  });
});
