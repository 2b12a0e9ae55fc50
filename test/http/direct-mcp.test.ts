import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { McpHttpTarget } from '../../broker/edges/streamable-http.js';
import { securityHeaders } from '../../server/http/app.js';
import { directMcpRequests } from '../../server/http/direct-mcp.js';
import { createLogger } from '../../server/log.js';
import { createMetrics } from '../../server/metrics.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startBroker } from '../support/broker-fixture.js';
import { mcpFetch, openSession } from '../support/mcp-http.js';
import { TEST_PUBLIC_URL } from '../support/test-idp.js';

/** Every header helmet sets with the app's options. */
const SECURITY_HEADERS = [
  'content-security-policy',
  'cross-origin-opener-policy',
  'cross-origin-resource-policy',
  'origin-agent-cluster',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-dns-prefetch-control',
  'x-download-options',
  'x-frame-options',
  'x-permitted-cross-domain-policies',
  'x-xss-protection',
];

/** One request through the direct route on stand-ins: whether it took it, what it handed on, the headers it set; `finish` answers it with 200. */
function routed(url: string, logger = createLogger({ level: 'warn' })) {
  const served: McpHttpTarget[] = [];
  const set = new Map<string, unknown>();
  const finished: (() => void)[] = [];
  const direct = directMcpRequests({ serve: async (_req, _res, target) => void served.push(target), securityHeaders: securityHeaders(TEST_PUBLIC_URL), addressOf: () => '192.0.2.7', metrics: createMetrics(), logger });
  const req = { url, method: 'POST', headers: { authorization: 'Bearer pcl_secret' }, socket: { remoteAddress: '127.0.0.1' } } as unknown as IncomingMessage;
  const res = { statusCode: 200, setHeader: (name: string, value: unknown) => set.set(name, value), on: (_event: string, listener: () => void) => finished.push(listener) } as unknown as ServerResponse;
  return { took: direct(req, res), served, headers: set, finish: () => finished.forEach((listener) => listener()) };
}

describe('MCP requests below express', () => {
  it('takes only plain paths, with the server named and the address and URL as sent, and leaves every other path to express', () => {
    expect(routed('/mcp/everything?probe=1')).toMatchObject({ took: true, served: [{ server: 'everything', address: '192.0.2.7', url: '/mcp/everything?probe=1' }] });
    expect(routed('/mcp')).toMatchObject({ took: true, served: [{ server: undefined, url: '/mcp' }] });
    for (const other of ['/mcp/every%74hing', '/MCP/everything', '/mcp/everything/', '/mcp/a/b', '/mcpx', '/mcp/', '/graphql', `/mcp/${'x'.repeat(129)}`]) {
      expect(routed(other), other).toMatchObject({ took: false, served: [] });
    }
  });

  it('sets the security headers the app sets, with the same values', () => {
    const { headers } = routed('/mcp/everything');
    expect([...headers.keys()].sort()).toEqual(SECURITY_HEADERS);
    expect(headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
  });

  it('writes the access line pino-http writes for the app\'s requests, path without query, no credential', () => {
    const lines: string[] = [];
    const request = routed('/mcp/everything?token=x', createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(line) } }));
    request.finish();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 30, msg: 'request completed', req: { method: 'POST', path: '/mcp/everything', remoteAddress: '127.0.0.1' }, res: { statusCode: 200 } });
    expect(lines[0]).not.toMatch(/secret|token=/);
  });

  describe('in a broker', () => {
    let fx: BrokerFixture;
    let token: string;
    beforeAll(async () => {
      fx = await startBroker();
      await fx.grant(['echo'], 3600);
      token = await fx.token();
    });
    afterAll(() => fx.close());

    it('answers alike whichever way a request came: headers, session, a call, metrics under one route label', async () => {
      const express = await fetch(`${fx.server.url}/healthz`);
      // The plain path below express; the escaped one through express's routing.
      for (const [i, url] of [fx.httpUrl(), `${fx.server.url}/mcp/every%74hing`].entries()) {
        const session = await openSession(url, token);
        const res = await mcpFetch(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: `via ${i}` } } }, { token, session, accept: 'application/json' });
        expect(res.status).toBe(200);
        expect(JSON.stringify(await res.json())).toContain(`via ${i}`);
        for (const name of SECURITY_HEADERS) expect(res.headers.get(name), name).toBe(express.headers.get(name));
      }
      const refused = await mcpFetch(fx.httpUrl(), { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token: 'not-a-token' });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(await refused.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32001 } });
      const metrics = await (await fetch(`${fx.server.url}/metrics`)).text();
      expect(metrics).toMatch(/^portcullis_http_requests_total\{method="POST",route="\/mcp,\/mcp\/:server",status="200"\} 4$/m);
      expect(metrics).toMatch(/^portcullis_http_requests_total\{method="POST",route="\/mcp,\/mcp\/:server",status="401"\} 1$/m);
      expect(metrics).toMatch(/^portcullis_http_requests_total\{method="POST",route="\/mcp,\/mcp\/:server",status="202"\} 2$/m);
      expect(metrics).not.toMatch(/route="unmatched"/);
    });
  });
});
