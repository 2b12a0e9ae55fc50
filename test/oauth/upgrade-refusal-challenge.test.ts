import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createUpgradeRouter, refuseUpgrade, UpgradeRefused } from '../../server/http/upgrade-router.js';
import type { UpgradeHandler } from '../../server/http/upgrade-router.js';

/**
 * RFC 6750 §3: a refused Bearer credential is told why in `WWW-Authenticate` whatever the
 * status: 401 invalid_token, and also 400 invalid_request and 403 insufficient_scope (the
 * MCP authenticator's refusals, mcp-authenticate.ts). An upgrade refused so says it as the
 * HTTP edge does (streamable-http.ts); a refusal with no credential at stake carries none.
 */
describe('an upgrade refused for its Bearer credential carries the challenge, whatever the status', () => {
  let server: Server;
  let url: string;
  const refusing = (refusal: UpgradeRefused): UpgradeHandler => (_request, socket) => refuseUpgrade(socket, refusal);

  beforeAll(async () => {
    const route = createUpgradeRouter({
      '/malformed': refusing(new UpgradeRefused(400, 'malformed Authorization', { error: 'invalid_request', description: 'malformed Authorization' })),
      '/scope': refusing(new UpgradeRefused(403, 'this token lacks the "mcp" scope', { error: 'insufficient_scope', description: 'this token lacks the "mcp" scope' })),
      '/origin': refusing(new UpgradeRefused(403, 'Forbidden: this Origin may not call the MCP endpoints')),
    });
    server = createServer((_req, res) => void res.writeHead(404).end());
    server.on('upgrade', route);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const upgrade = (path: string) =>
    new Promise<{ status: number; challenge: string | undefined }>((resolve) => {
      const ws = new WebSocket(`${url}${path}`, 'mcp');
      ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, challenge: res.headers['www-authenticate'] }));
      ws.once('error', () => {});
    });

  it('says invalid_request on a 400 and insufficient_scope on a 403', async () => {
    expect(await upgrade('/malformed')).toEqual({ status: 400, challenge: 'Bearer realm="portcullis", error="invalid_request", error_description="malformed Authorization"' });
    expect(await upgrade('/scope')).toEqual({ status: 403, challenge: 'Bearer realm="portcullis", error="insufficient_scope", error_description="this token lacks the mcp scope"' });
  });

  it('sends none with a refusal that is not about a credential', async () => {
    expect(await upgrade('/origin')).toEqual({ status: 403, challenge: undefined });
    expect(await upgrade('/elsewhere')).toEqual({ status: 404, challenge: undefined });
  });
});
