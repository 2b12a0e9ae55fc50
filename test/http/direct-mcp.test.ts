import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
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

/** One request through the direct route on stand-ins: whether it took it, what it handed on, the headers it set, and the response to end. */
function routed(url: string, logger = createLogger({ level: 'warn' })) {
  const served: McpHttpTarget[] = [];
  const direct = directMcpRequests({ serve: async (_req, _res, target) => void served.push(target), securityHeaders: securityHeaders(TEST_PUBLIC_URL), addressOf: () => '192.0.2.7', metrics: createMetrics(), logger });
  const req = { url, method: 'POST', headers: { authorization: 'Bearer pcl_secret' }, socket: { remoteAddress: '127.0.0.1' }, readableAborted: false } as unknown as IncomingMessage;
  const headers = new Map<string, unknown>();
  const res = Object.assign(new EventEmitter(), { statusCode: 200, writableEnded: false, setHeader: (name: string, value: unknown) => headers.set(name, value) });
  return { took: direct(req, res as unknown as ServerResponse), served, headers, req, res };
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

  it('writes the access line pino-http writes, once per request: completed, errored or aborted, path without query, no credential', () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
    const completed = routed('/mcp/everything?token=x', logger).res;
    completed.writableEnded = true;
    completed.emit('finish');
    completed.emit('close');
    const errored = routed('/mcp', logger).res;
    Object.assign(errored, { statusCode: 503, writableEnded: true }).emit('finish');
    // The client went away before the answer (a guess at a token, a stream it closed): still a line.
    routed('/mcp/everything', logger).res.emit('close');
    expect(lines).toMatchObject([
      { level: 30, msg: 'request completed', req: { method: 'POST', path: '/mcp/everything', remoteAddress: '127.0.0.1' }, res: { statusCode: 200 } },
      { level: 30, msg: 'request errored', req: { path: '/mcp' }, res: { statusCode: 503 }, err: { message: 'failed with status code 503' } },
      { level: 30, msg: 'request aborted', req: { path: '/mcp/everything' } },
    ]);
    expect(JSON.stringify(lines)).not.toMatch(/secret|token=/);
  });

  it("writes the line, with the address it came from, for a request whose socket is gone when it ends (a destroyed request drops it), and does not throw", () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) } });
    const { req, res } = routed('/mcp/everything', logger);
    (req as { socket: unknown }).socket = null;
    expect(() => res.emit('close')).not.toThrow();
    expect(lines).toMatchObject([{ msg: 'request aborted', req: { path: '/mcp/everything', remoteAddress: '127.0.0.1' } }]);
  });

  it('refuses to start when the security-header middleware fails, rather than answer without its headers', () => {
    const failing: RequestHandler = (_req, _res, next) => next(new Error('bad directive'));
    expect(() => directMcpRequests({ serve: async () => {}, securityHeaders: failing, addressOf: () => undefined, metrics: createMetrics(), logger: createLogger({ level: 'warn' }) })).toThrow('bad directive');
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
