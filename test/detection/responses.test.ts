import { randomBytes } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessEvents } from '../../server/access/access-events.js';
import { AccessPolicy } from '../../server/access/access-policy.js';
import { Principals } from '../../server/identity/principal.js';
import { ANOMALY_REVOKE_REASON, AccessService } from '../../server/access/access-service.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { systemClock } from '../../server/clock.js';
import type { Clock } from '../../server/clock.js';
import { AnomalyRecorder } from '../../server/detection/anomalies.js';
import { chooseResponse } from '../../server/detection/responses.js';
import type { Detection, DetectionConfig } from '../../server/detection/types.js';
import { StoreUnavailableError } from '../../server/errors.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { CursorSeal } from '../../server/stores/sealed-cursor.js';
import type { Stores } from '../../server/stores/types.js';
import { brokerConfig, brokersPerTest } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { startBrokerPair } from '../support/broker-pair.js';
import { captureLogs } from '../support/log-capture.js';
import { ManualClock } from '../support/manual-clock.js';
import { mcpFetch } from '../support/mcp-http.js';
import { describeWithRedis } from '../support/redis.js';
import { testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

type Responses = DetectionConfig['responses'];

const LONG_CALL = { name: 'trigger-long-running-operation', arguments: { duration: 10, steps: 2 } };
const SUSPEND: Responses = [{ rule: '*', minSeverity: 'high', action: 'suspend_session' }];
const REVOKE: Responses = [{ rule: 'probing', minSeverity: 'low', action: 'revoke_grant' }];

/**
 * The raiser a detector on `server`'s instance would use: its stores, and the access
 * service and events over them, as server.ts builds them.
 */
function raiserOn(server: TestServer, fx: BrokerFixture, responses: Responses, clock: Clock = systemClock): AnomalyRecorder {
  const { stores } = server;
  const config = brokerConfig(fx.idp);
  const events = new AccessEvents(stores.events);
  const access = new AccessService({ store: stores.access, audit: stores.audit, clock, policy: new AccessPolicy(config), events, config, readOnlyTools: async () => [], principals: new Principals({ idps: config.identityProviders, roles: config.roles }), cursors: new CursorSeal(stores.cursorKeys, clock) });
  return new AnomalyRecorder({ store: stores.anomalies, audit: stores.audit, clock, logger: captureLogs().logger, events, access, config: { responses, keepAnomalies: 100 } });
}

function detection(overrides: Partial<Detection> = {}): Detection {
  return {
    id: `an_${randomBytes(12).toString('hex')}`,
    rule: 'probing',
    severity: 'high',
    score: 1.4,
    summary: 'alice@example.com was refused 14 times in 5 minutes; the threshold is 10',
    observed: { denials: 14, windowSeconds: 300 },
    baseline: { threshold: 10 },
    eventIds: ['1'],
    at: new Date().toISOString(),
    user: 'alice@example.com',
    server: 'everything',
    tool: 'echo',
    sessionId: null,
    grantId: null,
    ...overrides,
  };
}

const NONE = { detectedEventId: null, responded: false };

async function auditOf(stores: Stores, type: string): Promise<AuditEvent[]> {
  return (await stores.audit.read({ limit: 1000 })).filter((e) => e.type === type);
}

/** The id of `email`'s newest MCP session on this instance, as the audit log (and so the detector) names it. */
async function sessionOf(stores: Stores, email: string): Promise<string> {
  const start = (await auditOf(stores, 'mcp.session.start')).filter((e) => e.actor === email).at(-1);
  if (!start?.sessionId) throw new Error(`no session of ${email}`);
  return start.sessionId;
}

const settled = <T>(promise: Promise<T>) =>
  promise.then(
    () => 'completed',
    (error: { code?: number; data?: unknown }) => error,
  );

/** Alice with a grant, a live session (`connect` opens it over its transport) and a long call of hers forwarded upstream (in flight). */
async function aliceMidCall<C extends { client: Client }>(fx: BrokerFixture, connect: (token: string) => Promise<C>) {
  const grantId = await fx.grant(['echo', 'trigger-long-running-operation']);
  const token = await fx.token();
  const connected = await connect(token);
  const sessionId = await sessionOf(fx.server.stores, 'alice@example.com');
  const inFlight = settled(connected.client.callTool(LONG_CALL));
  // Audited before it is forwarded: once the log has it, the call is in flight upstream.
  await expect.poll(async () => (await auditOf(fx.server.stores, 'mcp.request')).some((e) => e.sessionId === sessionId && e.tool === LONG_CALL.name)).toBe(true);
  return { grantId, token, sessionId, inFlight, ...connected };
}

describe('choosing the response', () => {
  const responses: Responses = [
    { rule: 'new_client', minSeverity: 'low', action: 'record' },
    { rule: 'probing', minSeverity: 'critical', action: 'revoke_grant' },
    { rule: '*', minSeverity: 'high', action: 'suspend_session' },
  ];

  it('takes the first response whose rule matches (the id or "*") and whose minSeverity the detection reaches', () => {
    expect(chooseResponse(responses, { rule: 'probing', severity: 'critical' })).toBe('revoke_grant');
    expect(chooseResponse(responses, { rule: 'probing', severity: 'high' })).toBe('suspend_session');
    expect(chooseResponse(responses, { rule: 'breadth', severity: 'critical' })).toBe('suspend_session');
  });

  it('records only when nothing matches, or the first match says record', () => {
    expect(chooseResponse(responses, { rule: 'probing', severity: 'medium' })).toBeNull();
    expect(chooseResponse(responses, { rule: 'new_client', severity: 'critical' })).toBeNull();
    expect(chooseResponse([], { rule: 'probing', severity: 'critical' })).toBeNull();
  });
});

describe('anomaly responses through a live broker', () => {
  const broker = brokersPerTest();

  it('suspend_session closes the session 4403 "anomaly", answers its in-flight call -32001 anomaly, audits and records the response; the grant stays', async () => {
    const fx = await broker();
    const { grantId, token, transport, sessionId, inFlight } = await aliceMidCall(fx, (token) => fx.connect(token));

    const d = detection({ sessionId, grantId });
    await raiserOn(fx.server, fx, SUSPEND).raise(d, NONE);

    expect(await inFlight).toMatchObject({ code: -32001, data: { reason: 'anomaly' } });
    await expect.poll(() => transport.closeInfo).toEqual({ code: 4403, reason: 'anomaly' });
    const [detected] = await auditOf(fx.server.stores, 'anomaly.detected');
    expect(detected).toMatchObject({ actor: null, server: 'everything', tool: 'echo', sessionId, data: { anomalyId: d.id, rule: 'probing', severity: 'high', score: 1.4, user: 'alice@example.com', summary: d.summary, observed: d.observed, baseline: d.baseline, eventIds: ['1'], grantId } });
    const responses = await auditOf(fx.server.stores, 'anomaly.response');
    expect(responses).toEqual([expect.objectContaining({ outcome: 'SUCCESS', actor: null, sessionId, data: { anomalyId: d.id, rule: 'probing', severity: 'high', user: 'alice@example.com', action: 'suspend_session', detail: expect.stringContaining(sessionId) } })]);
    expect(Number(responses[0]!.id)).toBeGreaterThan(Number(detected!.id));
    expect(await fx.server.stores.anomalies.get(d.id)).toMatchObject({ status: 'open', auditEventId: detected!.id, responses: [{ action: 'suspend_session', outcome: 'SUCCESS' }], version: 2 });
    await expect.poll(async () => (await auditOf(fx.server.stores, 'mcp.session.end')).map((e) => e.data)).toEqual([expect.objectContaining({ code: 4403, reason: 'anomaly' })]);

    // A cut, not a ban: the grant is still active and the person connects again.
    expect((await fx.server.stores.access.getGrant(grantId))?.revokedAt).toBeNull();
    const again = await fx.connect(token);
    expect(await again.client.callTool({ name: 'echo', arguments: { message: 'back' } })).toMatchObject({ content: [{ text: 'Echo: back' }] });
    await again.client.close();
  });

  it('suspend_session without a session named closes every live session of the user (named in any ASCII case), and no one else’s', async () => {
    const fx = await broker();
    await fx.grant(['echo']);
    const bob = await fx.signInAs('bob@example.com');
    await bob.grant(['echo']);
    const first = await fx.connect(await fx.token());
    const second = await fx.connect(await fx.token());
    const bobs = await fx.connect(await bob.token());

    // As another sign-in's IdP may have asserted the address.
    await raiserOn(fx.server, fx, SUSPEND).raise(detection({ user: 'Alice@EXAMPLE.com' }), NONE);

    await expect.poll(() => first.transport.closeInfo).toEqual({ code: 4403, reason: 'anomaly' });
    await expect.poll(() => second.transport.closeInfo).toEqual({ code: 4403, reason: 'anomaly' });
    expect(await bobs.client.callTool({ name: 'echo', arguments: { message: 'still here' } })).toMatchObject({ content: [{ text: 'Echo: still here' }] });
    expect(bobs.transport.closeInfo).toBeUndefined();
    await bobs.client.close();
  });

  it('suspend_session ends a Streamable HTTP session as a revocation does: the in-flight call answered -32001 anomaly, then the session is gone (404)', async () => {
    const fx = await broker();
    const { token, client, transport, sessionId, inFlight } = await aliceMidCall(fx, (token) => fx.connectHttp(token));

    await raiserOn(fx.server, fx, SUSPEND).raise(detection({ sessionId }), NONE);

    expect(await inFlight).toMatchObject({ code: -32001, data: { reason: 'anomaly' } });
    const call = { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { message: 'x' } } };
    await expect.poll(async () => (await mcpFetch(fx.httpUrl(), call, { token, session: transport.sessionId! })).status).toBe(404);
    await client.close();
  });

  it('revoke_grant revokes the grant behind the detection as the system (it must be asked for again), closing its session 4403, audited as grant.revoked then anomaly.response', async () => {
    const fx = await broker();
    const { grantId, token, transport, sessionId, inFlight } = await aliceMidCall(fx, (token) => fx.connect(token));

    const d = detection({ sessionId, grantId });
    await raiserOn(fx.server, fx, REVOKE).raise(d, NONE);

    expect(await inFlight).toMatchObject({ code: -32001, data: { reason: 'grant_revoked' } });
    await expect.poll(() => transport.closeInfo).toEqual({ code: 4403, reason: 'grant revoked' });
    // Its holder reads that it was revoked, not which anomaly or rule: nobody sees an anomaly about themselves.
    expect(await fx.gql('query($id: ID!) { grant(id: $id) { status revokeReason } }', { id: grantId })).toMatchObject({ body: { data: { grant: { status: 'REVOKED', revokeReason: ANOMALY_REVOKE_REASON } } } });
    expect(await fx.server.stores.access.getGrant(grantId)).toMatchObject({ revokedBy: null, revokeReason: ANOMALY_REVOKE_REASON });
    expect(ANOMALY_REVOKE_REASON).not.toMatch(/probing|anomal/i);
    const [revoked] = await auditOf(fx.server.stores, 'grant.revoked');
    expect(revoked).toMatchObject({ actor: null, server: 'everything', data: { grantId, user: 'alice@example.com', anomalyId: d.id, rule: 'probing', reason: ANOMALY_REVOKE_REASON } });
    const [response] = await auditOf(fx.server.stores, 'anomaly.response');
    expect(response).toMatchObject({ outcome: 'SUCCESS', data: { anomalyId: d.id, action: 'revoke_grant', detail: `grant ${grantId} revoked` } });
    expect(Number(response!.id)).toBeGreaterThan(Number(revoked!.id));
    await expect(fx.connect(token)).rejects.toThrow(/HTTP 403/);
  });

  it('revoke_grant without a grant named revokes the user’s active grants on the detection’s server', async () => {
    const fx = await broker();
    const echo = await fx.grant(['echo']);
    const sum = await fx.grant(['get-sum']);
    const bob = await fx.signInAs('bob@example.com');
    const bobs = await bob.grant(['echo']);

    const d = detection();
    await raiserOn(fx.server, fx, REVOKE).raise(d, NONE);

    expect((await fx.server.stores.access.getGrant(echo))?.revokedAt).not.toBeNull();
    expect((await fx.server.stores.access.getGrant(sum))?.revokedAt).not.toBeNull();
    expect((await fx.server.stores.access.getGrant(bobs))?.revokedAt).toBeNull();
    expect((await auditOf(fx.server.stores, 'grant.revoked')).map((e) => e.data.anomalyId)).toEqual([d.id, d.id]);
  });

  it('records only when no response matches: nothing is closed or revoked, and no response is audited', async () => {
    const fx = await broker();
    const grantId = await fx.grant(['echo']);
    const { client, transport } = await fx.connect(await fx.token());
    const sessionId = await sessionOf(fx.server.stores, 'alice@example.com');

    const d = detection({ sessionId, grantId, severity: 'medium' });
    await raiserOn(fx.server, fx, [...SUSPEND, { rule: 'breadth', minSeverity: 'low', action: 'revoke_grant' }]).raise(d, NONE);

    expect(await fx.server.stores.anomalies.get(d.id)).toMatchObject({ responses: [], version: 1 });
    expect(await auditOf(fx.server.stores, 'anomaly.detected')).toHaveLength(1);
    expect(await auditOf(fx.server.stores, 'anomaly.response')).toEqual([]);
    expect(await client.callTool({ name: 'echo', arguments: { message: 'fine' } })).toMatchObject({ content: [{ text: 'Echo: fine' }] });
    expect(transport.closeInfo).toBeUndefined();
    expect((await fx.server.stores.access.getGrant(grantId))?.revokedAt).toBeNull();
    await client.close();
  });

  it('a response that fails is audited as ERROR and recorded, and the raise does not throw', async () => {
    const fx = await broker();
    const d = detection({ grantId: '00000000-0000-4000-8000-000000000000' });
    await raiserOn(fx.server, fx, REVOKE).raise(d, NONE);
    expect(await auditOf(fx.server.stores, 'anomaly.response')).toEqual([expect.objectContaining({ outcome: 'ERROR', data: expect.objectContaining({ anomalyId: d.id, action: 'revoke_grant', detail: expect.stringMatching(/^revoke_grant failed: /) }) })]);
    expect(await fx.server.stores.anomalies.get(d.id)).toMatchObject({ responses: [{ action: 'revoke_grant', outcome: 'ERROR' }] });
  });

  describe('what a previous evaluator already did (before) is not done again', () => {
    it('with the detection and its response both in the log: no second anomaly.detected, no response; the record is stored under the earlier event', async () => {
      const fx = await broker();
      await fx.grant(['echo']);
      const { client, transport } = await fx.connect(await fx.token());
      const d = detection();
      await raiserOn(fx.server, fx, SUSPEND).raise(d, { detectedEventId: '1', responded: true });
      expect(await auditOf(fx.server.stores, 'anomaly.detected')).toEqual([]);
      expect(await auditOf(fx.server.stores, 'anomaly.response')).toEqual([]);
      expect(await fx.server.stores.anomalies.get(d.id)).toMatchObject({ auditEventId: '1', responses: [] });
      expect(await client.callTool({ name: 'echo', arguments: { message: 'open' } })).toMatchObject({ content: [{ text: 'Echo: open' }] });
      expect(transport.closeInfo).toBeUndefined();
      await client.close();
    });

    it('with only the detection in the log: the response is taken once, on the stored record', async () => {
      const fx = await broker();
      await fx.grant(['echo']);
      const { transport } = await fx.connect(await fx.token());
      const raiser = raiserOn(fx.server, fx, SUSPEND);
      const d = detection();
      await raiser.raise(d, { detectedEventId: null, responded: true });
      const [detected] = await auditOf(fx.server.stores, 'anomaly.detected');
      await raiser.raise(d, { detectedEventId: detected!.id, responded: false });
      expect(await auditOf(fx.server.stores, 'anomaly.detected')).toHaveLength(1);
      expect(await auditOf(fx.server.stores, 'anomaly.response')).toHaveLength(1);
      await expect.poll(() => transport.closeInfo).toEqual({ code: 4403, reason: 'anomaly' });
      expect(await fx.server.stores.anomalies.get(d.id)).toMatchObject({ auditEventId: detected!.id, responses: [{ action: 'suspend_session' }] });
    });
  });
});

describeWithRedis('anomaly responses across instances', () => {
  it('a suspension raised on one instance closes the session held by another; a revocation too', async () => {
    const pair = await startBrokerPair({});
    try {
      const { a, b } = pair;
      const grantId = await a.grant(['echo']);
      const first = await a.connect(await a.token());
      const sessionId = await sessionOf(a.server.stores, 'alice@example.com');
      await raiserOn(b, a, SUSPEND).raise(detection({ sessionId }), NONE);
      await expect.poll(() => first.transport.closeInfo).toEqual({ code: 4403, reason: 'anomaly' });

      const second = await a.connect(await a.token());
      await raiserOn(b, a, REVOKE).raise(detection({ grantId }), NONE);
      await expect.poll(() => second.transport.closeInfo).toEqual({ code: 4403, reason: 'grant revoked' });
      expect((await auditOf(b.stores, 'anomaly.response')).map((e) => e.data.action)).toEqual(['suspend_session', 'revoke_grant']);
    } finally {
      await pair.close();
    }
  });
});

describe('suppressions and a log that cannot be written', () => {
  const opened: Stores[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close().catch(() => {})));
  });
  const recorder = async (clock: ManualClock) => {
    const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-anomalies-')), clock });
    opened.push(stores);
    const events = new AccessEvents(stores.events);
    const config = testConfig();
    const access = new AccessService({ store: stores.access, audit: stores.audit, clock, policy: new AccessPolicy(config), events, config, readOnlyTools: async () => [], principals: new Principals({ idps: config.identityProviders, roles: config.roles }), cursors: new CursorSeal(stores.cursorKeys, clock) });
    return { stores, raiser: new AnomalyRecorder({ store: stores.anomalies, audit: stores.audit, clock, logger: captureLogs().logger, events, access, config: { responses: [], keepAnomalies: 10 } }) };
  };

  it('silences a (user, rule) while its suppression is live, seen within a second of a change', async () => {
    const clock = new ManualClock();
    const { stores, raiser } = await recorder(clock);
    expect(await raiser.isSuppressed('alice@example.com', 'rate_spike')).toBe(false);
    await stores.anomalies.suppress({ id: 'sp_1', user: 'alice@example.com', rule: 'rate_spike', reason: 'migration', createdBy: 'carol@example.com', createdAt: clock.now(), expiresAt: clock.now() + 60_000 });
    clock.advance(1_000);
    expect(await raiser.isSuppressed('alice@example.com', 'rate_spike')).toBe(true);
    expect(await raiser.isSuppressed('alice@example.com', 'probing')).toBe(false);
    expect(await raiser.isSuppressed('bob@example.com', 'rate_spike')).toBe(false);
    // An email is one address whatever its case: the IdP may assert it otherwise than the auditor typed it.
    expect(await raiser.isSuppressed('Alice@Example.COM', 'rate_spike')).toBe(true);
    // ASCII case only, as Portcullis compares emails everywhere: a suppression for \u212Aate@ (KELVIN SIGN) is not one for kate@.
    await stores.anomalies.suppress({ id: 'sp_2', user: '\u212Aate@example.com', rule: 'probing', reason: 'look-alike', createdBy: 'kate@example.com', createdAt: clock.now(), expiresAt: clock.now() + 60_000 });
    clock.advance(1_000);
    expect(await raiser.isSuppressed('kate@example.com', 'probing')).toBe(false);
    expect(await raiser.isSuppressed('\u212Aate@example.com', 'probing')).toBe(true);
    clock.advance(60_000);
    expect(await raiser.isSuppressed('alice@example.com', 'rate_spike')).toBe(false);
  });

  it('throws when the audit append fails, so the detector retries the event', async () => {
    const { stores, raiser } = await recorder(new ManualClock());
    await stores.close();
    await expect(raiser.raise(detection(), NONE)).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
