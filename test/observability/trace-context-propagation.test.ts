import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startUpstream } from '../support/http-upstream.js';
import type { Upstream } from '../support/http-upstream.js';
import { mcpFetch, openSession } from '../support/mcp-http.js';
import { startOtlpReceiver } from '../support/otlp-receiver.js';
import type { OtlpReceiver } from '../support/otlp-receiver.js';

describe('trace context sent to upstreams (propagateTraceContext)', () => {
  let receiver: OtlpReceiver | undefined;
  let fx: BrokerFixture | undefined;
  let upstream: Upstream | undefined;
  afterEach(async () => {
    await fx?.close();
    await receiver?.close();
    upstream?.server.closeAllConnections();
    await new Promise((resolve) => (upstream ? upstream.server.close(resolve) : resolve(undefined)));
    fx = receiver = upstream = undefined;
  });

  // An upstream that reads identity, tenant or routing from baggage would believe the client (W3C Baggage, "Security Considerations").
  it("sends only a traceparent continuing the client's trace: never the client's baggage or tracestate", async () => {
    receiver = await startOtlpReceiver();
    upstream = await startUpstream('json');
    const servers = [{ name: 'trusted', transport: 'streamable-http', url: upstream.url, propagateTraceContext: true }];
    const roles = [{ name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'trusted', tools: ['say'], maxDurationSeconds: 3600, autoApprove: true }] }];
    fx = await startBroker({ overrides: { roles, servers, observability: { tracing: { enabled: true, endpoint: receiver.url } } } });
    await fx.grant(['say'], 3600, 'trusted');
    const traceId = randomBytes(16).toString('hex');
    const client = { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`, tracestate: 'vendor=client-chosen', baggage: 'user.id=admin@example.com,tenant=acme' };
    const token = await fx.token();
    const url = fx.httpUrl('trusted');
    const session = await openSession(url, token);
    const res = await mcpFetch(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'say', arguments: { text: 'traced' } } }, { token, session, accept: 'application/json', headers: client });
    expect(res.status).toBe(200);
    expect(upstream.said).toEqual(['traced']);

    const traced = upstream.requests.filter((r) => typeof r.headers.traceparent === 'string');
    expect(traced.map((r) => r.headers.traceparent)).toContainEqual(expect.stringMatching(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`)));
    for (const { headers } of upstream.requests) {
      expect(headers.baggage).toBeUndefined();
      expect(headers.tracestate).toBeUndefined();
      expect(JSON.stringify(headers)).not.toMatch(/client-chosen|admin(@|%40)example|tenant=acme/);
    }
    // Nor do the broker's own spans carry the client's tracestate (the SDK hands a parent's on to its children).
    await fx.close();
    fx = undefined;
    expect(receiver.spans.some((s) => s.traceId === traceId)).toBe(true);
    expect(receiver.exports.some(({ body }) => body.includes('client-chosen'))).toBe(false);
  });
});
