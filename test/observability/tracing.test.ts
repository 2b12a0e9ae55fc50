import { randomBytes } from 'node:crypto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { afterEach, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { LoggedSpanExporter } from '../../server/tracing/logged-exporter.js';
import { startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startUpstream } from '../support/http-upstream.js';
import type { Upstream } from '../support/http-upstream.js';
import { mcpFetch, openSession } from '../support/mcp-http.js';
import { signInWithOp, startTestOp, visitCallback } from '../support/oidc-op.js';
import { TEST_PUBLIC_URL } from '../support/test-idp.js';
import { cookieWsClient, executeOverWs, postGraphQL, startTestServer, testConfig } from '../support/test-server.js';
import { startOtlpReceiver } from '../support/otlp-receiver.js';
import type { OtlpReceiver, ReceivedSpan } from '../support/otlp-receiver.js';
import { captureLogs } from '../support/log-capture.js';
import { redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { freePort } from '../support/redis-server.js';

const EXPORTER_KEY = 'otlp-key-6d1e9b2f7a';
const ANOMALIES = 'query Anomalies { anomalies { items { id } } }';

/** A W3C traceparent of the client's own: a new trace, its span, sampled. */
function clientTrace() {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

/** A tool call over Streamable HTTP carrying the client's `traceparent`; the answer's text. */
async function tracedCall(fx: BrokerFixture, server: string, traceparent: string, tool: string, args: Record<string, unknown>): Promise<string> {
  const token = await fx.token();
  const url = fx.httpUrl(server);
  const session = await openSession(url, token);
  const res = await mcpFetch(url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: tool, arguments: args } }, { token, session, accept: 'application/json', headers: { traceparent } });
  expect(res.status).toBe(200);
  return JSON.stringify(await res.json());
}

async function auditEvents(fx: BrokerFixture): Promise<AuditEvent[]> {
  return fx.server.stores.audit.read({ limit: 10_000 });
}

function one(spans: ReceivedSpan[], match: (span: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(match);
  expect(found, what).toHaveLength(1);
  return found[0]!;
}

describe('OpenTelemetry traces (observability.tracing)', () => {
  let receiver: OtlpReceiver | undefined;
  let fx: BrokerFixture | undefined;
  const upstreams: Upstream[] = [];
  afterEach(async () => {
    await fx?.close();
    await receiver?.close();
    fx = receiver = undefined;
    for (const upstream of upstreams.splice(0)) {
      upstream.server.closeAllConnections();
      await new Promise((resolve) => upstream.server.close(resolve));
    }
  });

  async function brokerExportingTo(enabled: boolean): Promise<BrokerFixture> {
    receiver = await startOtlpReceiver();
    const tracing = { enabled, endpoint: receiver.url, headers: { 'x-api-key': EXPORTER_KEY } };
    // Redis stores: the store's commands are traced too.
    fx = await startBroker({ overrides: { observability: { tracing } }, stores: await redisStoresForTest({ prefix: uniquePrefix() }) });
    return fx;
  }

  it('exports a span for the sign-in, the GraphQL mutation and the MCP call with its audit append and upstream leg in the client trace, whose id is in the audit event and a log line', async () => {
    const broker = await brokerExportingTo(true);
    // startBroker signed alice in (SAML ACS); the grant is a GraphQL mutation.
    await broker.grant(['echo']);
    const client = clientTrace();
    const message = `never-on-a-span-${randomBytes(4).toString('hex')}`;
    expect(await tracedCall(broker, 'everything', client.traceparent, 'echo', { message })).toContain(message);

    const call = (await auditEvents(broker)).find((e) => e.type === 'mcp.request' && e.tool === 'echo')!;
    expect(call.data.traceId).toBe(client.traceId);
    const logLine = broker.server.logs.find((line) => line.includes(`"trace_id":"${client.traceId}"`));
    expect(logLine).toBeDefined();
    const granted = (await auditEvents(broker)).find((e) => e.type === 'grant.issued');
    expect(granted?.data.traceId, 'the grant issued inside the mutation carries its trace id').toMatch(/^[0-9a-f]{32}$/);

    // Closing flushes what the batch processor still holds.
    await broker.close();
    fx = undefined;
    const spans = receiver!.spans;
    expect(receiver!.exports.every((e) => e.headers['x-api-key'] === EXPORTER_KEY)).toBe(true);

    const signIn = one(spans, (s) => s.name === 'saml.acs', 'one SAML sign-in');
    expect(signIn.attributes).toMatchObject({ 'portcullis.idp': 'corp', 'portcullis.sign_in.outcome': 'success' });
    expect(spans.some((s) => s.traceId === signIn.traceId && s.name === 'audit.append' && s.parentSpanId === signIn.spanId)).toBe(true);

    const mutation = spans.find((s) => s.name === 'graphql.mutation' && s.attributes['graphql.operation.type'] === 'mutation' && s.traceId === granted!.data.traceId);
    expect(mutation, 'the mutation that issued the grant').toBeDefined();
    expect(Object.keys(mutation!.attributes).some((key) => key.includes('variable'))).toBe(false);

    const mcp = one(spans, (s) => s.traceId === client.traceId && s.name === 'mcp tools/call', 'one span for the call');
    expect(mcp.parentSpanId).toBe(client.spanId);
    expect(mcp.attributes).toMatchObject({ 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'echo', 'portcullis.server': 'everything', 'mcp.session.id': call.sessionId });
    const append = one(spans, (s) => s.parentSpanId === mcp.spanId && s.name === 'audit.append', 'its audit append');
    expect(append.traceId).toBe(client.traceId);
    const upstream = one(spans, (s) => s.parentSpanId === mcp.spanId && s.name === 'mcp.upstream tools/call', 'its upstream leg');
    expect(upstream.attributes).toMatchObject({ 'portcullis.server': 'everything', 'portcullis.upstream.answer': 'result' });
    // The append's Redis commands, under the append.
    expect(spans.some((s) => s.parentSpanId === append.spanId && s.name.startsWith('redis ') && s.attributes['db.system.name'] === 'redis')).toBe(true);

    // No params, no assertion, no variables anywhere in what was exported.
    const exported = receiver!.exports.map((e) => e.body).join('\n');
    expect(exported).not.toContain(message);
    expect(exported).not.toContain('SAMLResponse');
  });

  it('spans each graphql-ws operation as HTTP ones: named by type and name, its execution inside, its errors by code, in the trace of the upgrade', async () => {
    const broker = await brokerExportingTo(true);
    const client = clientTrace();
    const ws = cookieWsClient(broker.server, broker.cookie, TEST_PUBLIC_URL, { traceparent: client.traceparent });
    let heard = false;
    try {
      ws.subscribe({ query: 'subscription Grants { grantChanged { id } }' }, { next: () => void (heard = true), error: () => {}, complete: () => {} });
      // It is set up once it hears of a grant (an HTTP mutation, spanned apart).
      await expect.poll(async () => heard || (await broker.grant(['echo']), heard), { timeout: 10_000 }).toBe(true);
      expect(await executeOverWs(ws, 'query Me { me { email } }')).toEqual({ data: { me: { email: 'alice@example.com' } } });
      const asked = await executeOverWs(ws, 'mutation Ask { createAccessRequest(input: { server: "everything", tools: ["get-sum"], reason: "never-on-a-span", durationSeconds: 600 }) { id } }');
      expect(asked.errors).toBeUndefined();
      expect((await executeOverWs(ws, ANOMALIES)).errors).toHaveLength(1);
      // The same refusal over HTTP, to compare.
      expect((await postGraphQL(broker.server.url, { query: ANOMALIES }, { cookie: broker.cookie, traceparent: client.traceparent })).body.errors).toHaveLength(1);
      expect((await executeOverWs(ws, 'query Bad { noSuchField }')).errors).toHaveLength(1);
    } finally {
      await ws.dispose();
    }
    const requested = (await auditEvents(broker)).find((e) => e.type === 'access_request.created' && e.data.traceId === client.traceId);
    expect(requested, 'the request filed inside the mutation carries the trace id').toBeDefined();
    await broker.close();
    fx = undefined;
    const spans = receiver!.spans.filter((s) => s.traceId === client.traceId && s.parentSpanId === client.spanId);
    const byName = (name: string) => one(spans, (s) => s.name === name, name);

    expect(byName('graphql.subscription Grants').attributes).toMatchObject({ 'graphql.operation.type': 'subscription', 'graphql.operation.name': 'Grants' });
    expect(byName('graphql.query Me')).toMatchObject({ attributes: { 'graphql.operation.type': 'query', 'graphql.operation.name': 'Me' }, status: { code: 0 } });
    const mutation = byName('graphql.mutation Ask');
    expect(mutation.attributes).toMatchObject({ 'graphql.operation.type': 'mutation', 'graphql.operation.name': 'Ask' });
    expect(receiver!.spans.some((s) => s.parentSpanId === mutation.spanId && s.name === 'audit.append')).toBe(true);
    const refused = spans.filter((s) => s.name === 'graphql.query Anomalies');
    expect(refused.map((s) => s.attributes['http.request.method'] ?? 'graphql-ws').sort()).toEqual(['POST', 'graphql-ws']);
    for (const span of refused) expect(span).toMatchObject({ attributes: { 'graphql.operation.type': 'query', 'graphql.operation.name': 'Anomalies' }, status: { code: 2, message: 'FORBIDDEN' } });
    // Refused before it ran: never named, and its error's message (which quotes the query) is not on it.
    expect(byName('graphql').status).toMatchObject({ code: 2 });
    expect(receiver!.exports.map((e) => e.body).join('\n')).not.toMatch(/noSuchField|never-on-a-span/);
  });

  it('with tracing off creates no exporter and puts no trace id in audit data or logs, whatever the client sends', async () => {
    const broker = await brokerExportingTo(false);
    await broker.grant(['echo']);
    const client = clientTrace();
    await tracedCall(broker, 'everything', client.traceparent, 'echo', { message: 'untraced' });
    const events = await auditEvents(broker);
    expect(events.some((e) => e.type === 'mcp.request' && e.tool === 'echo')).toBe(true);
    expect(events.filter((e) => 'traceId' in e.data)).toEqual([]);
    expect(broker.server.logs.filter((line) => line.includes('trace_id'))).toEqual([]);
    await broker.close();
    fx = undefined;
    expect(receiver!.exports).toEqual([]);
  });

  it("sends the upstream span's traceparent to a server with propagateTraceContext, and nothing of the trace to the others", async () => {
    receiver = await startOtlpReceiver();
    const [trusted, other] = [await startUpstream('json'), await startUpstream('json')];
    upstreams.push(trusted, other);
    const servers = [
      { name: 'trusted', transport: 'streamable-http', url: trusted.url, propagateTraceContext: true },
      { name: 'other', transport: 'streamable-http', url: other.url },
    ];
    const roles = [{ name: 'engineer', members: { groups: ['engineering'] }, request: servers.map(({ name }) => ({ server: name, tools: ['say'], maxDurationSeconds: 3600, autoApprove: true })) }];
    fx = await startBroker({ overrides: { roles, servers, observability: { tracing: { enabled: true, endpoint: receiver.url } } } });
    const client = clientTrace();
    for (const { name } of servers) {
      await fx.grant(['say'], 3600, name);
      expect(await tracedCall(fx, name, client.traceparent, 'say', { text: `to ${name}` })).toContain(`to ${name}`);
    }
    const traceparents = (upstream: Upstream) => upstream.requests.flatMap((r) => (typeof r.headers.traceparent === 'string' ? [r.headers.traceparent] : []));
    expect(traceparents(other)).toEqual([]);
    expect(other.requests.some((r) => JSON.stringify(r.headers).includes(client.traceId))).toBe(false);
    await fx.close();
    fx = undefined;
    const leg = one(receiver!.spans, (s) => s.traceId === client.traceId && s.name === 'mcp.upstream tools/call' && s.attributes['portcullis.server'] === 'trusted', 'the call to the trusted server');
    expect(traceparents(trusted)).toContain(`00-${client.traceId}-${leg.spanId}-01`);
  });

  it('spans each OIDC callback with the IdP and the outcome, and puts its trace id in the sign-in event', async () => {
    receiver = await startOtlpReceiver();
    const op = await startTestOp('corp', { alice: { email: 'alice@example.com', email_verified: true, name: 'Alice' } });
    const server = await startTestServer({
      config: testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, identityProviders: [op.config()], observability: { tracing: { enabled: true, endpoint: receiver.url } } }),
    });
    let login: AuditEvent | undefined;
    try {
      expect((await signInWithOp(server.url, 'corp')).callback.status).toBe(303);
      expect((await visitCallback(server.url, new URL(`${TEST_PUBLIC_URL}/auth/oidc/corp/callback?code=forged&state=forged`), null)).status).toBeGreaterThanOrEqual(400);
      login = (await server.stores.audit.read({ limit: 1000 })).find((e) => e.type === 'auth.login' && e.outcome === 'SUCCESS');
    } finally {
      // Closing flushes the spans.
      await server.close();
      await op.close();
    }
    const callbacks = receiver.spans.filter((s) => s.name === 'oidc.callback');
    expect(callbacks.map((s) => s.attributes['portcullis.sign_in.outcome']).sort()).toEqual(['refused', 'success']);
    expect(callbacks.every((s) => s.attributes['portcullis.idp'] === 'corp')).toBe(true);
    expect(callbacks.find((s) => s.attributes['portcullis.sign_in.outcome'] === 'success')!.traceId).toBe(login?.data.traceId);
  });
});

describe('trace export failures', () => {
  /** The log lines (parsed) with this code. */
  const withCode = (lines: readonly string[], code: string) => lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.code === code);

  it('a broker whose collector is down logs one warning with a stable code', async () => {
    const closed = await freePort();
    const fx = await startBroker({ overrides: { observability: { tracing: { enabled: true, endpoint: `http://127.0.0.1:${closed}/v1/traces` } } } });
    try {
      await fx.grant(['echo']);
    } finally {
      // Closing exports what is buffered, which fails (after the exporter's own retries).
      await fx.close();
    }
    await expect.poll(() => withCode(fx.server.logs, 'TRACE_EXPORT_FAILED'), { timeout: 20_000 }).toHaveLength(1);
    expect(withCode(fx.server.logs, 'TRACE_EXPORT_FAILED')[0]).toMatchObject({ level: 40, collector: `http://127.0.0.1:${closed}`, reason: expect.stringContaining('ECONNREFUSED') });
  });

  it('warns once however many batches fail, says when exports work again and what was lost, and never logs the export headers', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/v1/traces`;
    const { logger, lines } = captureLogs();
    // A short export deadline: the exporter's retries of a refused connection end at once.
    const exporter = new LoggedSpanExporter(new OTLPTraceExporter({ url, headers: { authorization: `Bearer ${EXPORTER_KEY}` }, timeoutMillis: 200 }), logger, url);
    const memory = new InMemorySpanExporter();
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(memory)] }).getTracer('test');
    tracer.startSpan('one').end();
    tracer.startSpan('two').end();
    const batch = memory.getFinishedSpans();
    const exported = () => new Promise<number>((resolve) => exporter.export(batch, (result) => resolve(result.code)));

    expect([await exported(), await exported(), await exported()]).toEqual([1, 1, 1]);
    expect(withCode(lines, 'TRACE_EXPORT_FAILED')).toHaveLength(1);
    const receiver = await startOtlpReceiver(port);
    try {
      expect(await exported()).toBe(0);
      expect(withCode(lines, 'TRACE_EXPORT_RECOVERED')).toEqual([expect.objectContaining({ level: 30, lostBatches: 3, lostSpans: 6 })]);
    } finally {
      await receiver.close();
    }
    expect(await exported()).toBe(1);
    expect(withCode(lines, 'TRACE_EXPORT_FAILED')).toHaveLength(2);
    expect(lines.join('\n')).not.toContain(EXPORTER_KEY);
  });
});
