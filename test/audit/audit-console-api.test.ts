import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLogOptions } from '../../server/stores/index.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { AUDIT_FILE_NAME } from '../../server/stores/embedded/file-audit-log.js';
import { systemClock } from '../../server/clock.js';
import type { Stores } from '../../server/stores/types.js';
import { auditKeyPair } from '../support/audit-keys.js';
import { auditFileAccess, auditStreamAccess, rechain } from '../support/audit-store-access.js';
import type { AuditStoreAccess } from '../support/audit-store-access.js';
import { startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture, BrokerPerson } from '../support/broker-fixture.js';
import { describeWithRedis, redisStoresForTest, sharedRedisUrl, uniquePrefix } from '../support/redis.js';
import { postGraphQL } from '../support/test-server.js';
import type { GraphQLBody } from '../support/test-server.js';

/**
 * Issue 16: the audit view of the console through the API, on each store: the log read
 * newest first, filtered by tool and session, each allowed MCP request linked to the
 * grant that allowed it, and the chain verified on request, by auditors only.
 */

const key = auditKeyPair();
const AUDIT = { checkpoints: { privateKey: key.privateKey, intervalSeconds: 60 } };
const OVERRIDES = {
  audit: AUDIT,
  roles: [
    {
      name: 'engineer',
      members: { groups: ['engineering'] },
      request: [{ server: 'everything', tools: ['echo'], prompts: ['*'], resources: ['demo://resource/*'], maxDurationSeconds: 3600, autoApprove: true }],
    },
    { name: 'auditor', members: { groups: ['security'] }, audit: true },
  ],
};

const PAGE = `query($filter: AuditFilter, $first: Int, $after: String, $order: AuditOrder) {
  auditEvents(filter: $filter, first: $first, after: $after, order: $order) { items { id type tool sessionId data grant { id user { email } } } pageInfo { endCursor hasNextPage } }
}`;
type Event = { id: string; type: string; tool: string | null; sessionId: string | null; data: Record<string, unknown>; grant: { id: string; user: { email: string } } | null };
type Page = { items: Event[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } };
const VERIFY = '{ auditChainVerification { intact events lastId lastHash checkpoints checkpointsVerified lastCheckpointAt eventsAfterLastCheckpoint brokenAt brokenPosition brokenReason } }';

/** `openStores`: the broker's stores (sealing with the test key), and a way to edit them behind its back. */
function auditConsoleSuite(openStores: () => Promise<{ stores: Stores; access: AuditStoreAccess }>) {
  let fx: BrokerFixture;
  let carol: BrokerPerson;
  let frank: BrokerPerson;
  let access: AuditStoreAccess;

  beforeAll(async () => {
    const opened = await openStores();
    access = opened.access;
    fx = await startBroker({ overrides: OVERRIDES, stores: opened.stores });
    carol = await fx.signInAs('carol@example.com', ['security']);
    frank = await fx.signInAs('frank@example.com');
  });
  afterAll(() => fx.close());

  const page = async (who: BrokerPerson, variables: Record<string, unknown>): Promise<Page> => {
    const res = await who.gql(PAGE, variables);
    if (res.body.errors) throw new Error(JSON.stringify(res.body.errors));
    return (res.body.data as { auditEvents: Page }).auditEvents;
  };
  const append = (n: number, extra: Record<string, unknown> = {}) => fx.server.stores.audit.append({ type: 'test.event', outcome: 'SUCCESS', actor: 'writer@example.com', data: { n }, ...extra });

  it('reads newest first, page after page, the same events as oldest first in reverse; OLDEST_FIRST stays the default', async () => {
    for (let n = 0; n < 7; n++) await append(n);
    const filter = { types: ['test.event'] };
    const oldest = await page(carol, { filter, first: 100 });
    expect(oldest.items.map((e) => e.data.n)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const newest: Event[] = [];
    let after: string | null = null;
    for (let more = true; more; ) {
      const next: Page = await page(carol, { filter, first: 3, after, order: 'NEWEST_FIRST' });
      newest.push(...next.items);
      after = next.pageInfo.endCursor;
      more = next.pageInfo.hasNextPage;
    }
    expect(newest.map((e) => e.data.n)).toEqual([6, 5, 4, 3, 2, 1, 0]);
    expect((await page(carol, { filter, first: 2, order: 'OLDEST_FIRST' })).items.map((e) => e.data.n)).toEqual([0, 1]);
    expect((await page(carol, { filter, first: 2, order: null })).items.map((e) => e.data.n)).toEqual([0, 1]);
  });

  it('refuses a cursor the log did not issue, in either order', async () => {
    const res = await carol.gql(PAGE, { after: 'not-a-cursor', order: 'NEWEST_FIRST' });
    expect(res.body.errors?.[0]?.extensions?.code).toBe('INVALID_CURSOR');
    expect((await carol.gql(PAGE, { order: 'SIDEWAYS' })).body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('reads one event by cursor (the link an anomaly\'s triggering event follows): any for an auditor, only their own for others, null for the rest', async () => {
    const first = await append(200);
    const mine = await append(201, { actor: 'frank@example.com' });
    const last = await append(202);
    const one = async (who: BrokerPerson, id: string) => ((await who.gql('query($id: ID!) { auditEvent(id: $id) { id data } }', { id })).body.data as { auditEvent: { id: string; data: { n: number } } | null }).auditEvent;
    expect(await one(carol, first.id)).toEqual({ id: first.id, data: { n: 200 } });
    expect(await one(carol, last.id)).toEqual({ id: last.id, data: { n: 202 } });
    expect(await one(frank, mine.id)).toEqual({ id: mine.id, data: { n: 201 } });
    expect(await one(frank, first.id)).toBeNull();
    // Never issued: the same null as an event the caller may not see.
    expect(await one(carol, 'not-a-cursor')).toBeNull();
    const unissued = fx.server.stores.kind === 'redis' ? '9999999999999-0' : '99999999';
    expect(await one(carol, unissued)).toBeNull();
  });

  it('filters by tool and by session, in queries and in the live feed', async () => {
    const client = createClient({ url: `${fx.server.wsUrl}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${await carol.token(['audit:read'])}` } });
    const live: { tool: string | null; sessionId: string | null }[] = [];
    client.subscribe<{ auditEvents: { tool: string | null; sessionId: string | null } }>(
      { query: 'subscription($filter: AuditFilter) { auditEvents(filter: $filter) { tool sessionId } }', variables: { filter: { tool: 'echo', sessionId: 's-1' } } },
      { next: (v) => v.data && live.push(v.data.auditEvents), error: () => {}, complete: () => {} },
    );
    await new Promise((r) => setTimeout(r, 200));
    await append(100, { tool: 'echo', sessionId: 's-1' });
    await append(101, { tool: 'echo', sessionId: 's-2' });
    await append(102, { tool: 'get-sum', sessionId: 's-1' });
    await append(103, { tool: 'echo', sessionId: 's-1' });
    const byTool = await page(carol, { filter: { types: ['test.event'], tool: 'echo' }, first: 100 });
    expect(byTool.items.map((e) => e.data.n)).toEqual([100, 101, 103]);
    const bySession = await page(carol, { filter: { types: ['test.event'], sessionId: 's-1' }, first: 100, order: 'NEWEST_FIRST' });
    expect(bySession.items.map((e) => e.data.n)).toEqual([103, 102, 100]);
    await expect.poll(() => live).toEqual([
      { tool: 'echo', sessionId: 's-1' },
      { tool: 'echo', sessionId: 's-1' },
    ]);
    await client.dispose();
  });

  it('records the allowing grant with each allowed call, read, prompt and completion, and shows it to those who may see it', async () => {
    const grantId = await fx.grant({ tools: ['echo'], prompts: ['*'], resources: ['demo://resource/*'] });
    const { client } = await fx.connect(await fx.token(['mcp']));
    await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    await client.getPrompt({ name: 'simple-prompt' });
    const { resources } = await client.listResources();
    await client.readResource({ uri: resources[0]!.uri });
    await client.complete({ ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'Eng' } });
    await client.close();
    const methods = ['tools/call', 'prompts/get', 'resources/read', 'completion/complete'];
    const mine = await page(fx, { filter: { types: ['mcp.request'] }, first: 50, order: 'NEWEST_FIRST' });
    const allowed = mine.items.filter((e) => methods.includes(e.data.method as string));
    expect(allowed.map((e) => e.data.method).sort()).toEqual([...methods].sort());
    for (const event of allowed) expect(event).toMatchObject({ data: { grantId }, grant: { id: grantId, user: { email: 'alice@example.com' } } });
    // A listing is allowed by no one grant: nothing recorded, no grant shown.
    const listing = mine.items.find((e) => e.data.method === 'resources/list');
    expect(listing).toMatchObject({ grant: null });
    expect(listing!.data.grantId).toBeUndefined();
    const audited = await page(carol, { filter: { types: ['mcp.request'], tool: 'echo' }, first: 1, order: 'NEWEST_FIRST' });
    expect(audited.items[0]).toMatchObject({ data: { method: 'tools/call', grantId }, grant: { id: grantId } });
    // An event of frank's own naming alice's grant: he sees the event, not the grant.
    await fx.server.stores.audit.append({ type: 'test.grant-probe', outcome: 'SUCCESS', actor: 'frank@example.com', data: { grantId } });
    const probe = await page(frank, { filter: { types: ['test.grant-probe'] } });
    expect(probe.items).toMatchObject([{ data: { grantId }, grant: null }]);
    // The session's end is recorded once its upstream has stopped, after the client saw the close: later tests count the log.
    await expect.poll(async () => (await page(carol, { filter: { types: ['mcp.session.end'] }, first: 10 })).items.length).toBe(1);
  });

  it('verifies the chain for auditors, with the configured checkpoint key', async () => {
    await fx.server.stores.audit.checkpoint();
    await append(200);
    const res = await carol.gql(VERIFY);
    expect(res.body.errors).toBeUndefined();
    const report = (res.body.data as { auditChainVerification: Record<string, unknown> }).auditChainVerification;
    const all = await page(carol, { first: 1000 });
    expect(report).toEqual({
      intact: true,
      events: all.items.length,
      lastId: all.items.at(-1)!.id,
      lastHash: expect.stringMatching(/^[0-9a-f]{64}$/),
      checkpoints: expect.any(Number),
      checkpointsVerified: true,
      lastCheckpointAt: expect.any(String),
      eventsAfterLastCheckpoint: expect.any(Number),
      brokenAt: null,
      brokenPosition: null,
      brokenReason: null,
    });
    expect(report.checkpoints).toBeGreaterThanOrEqual(1);
    expect(report.eventsAfterLastCheckpoint).toBeGreaterThanOrEqual(1);
  });

  it('refuses anyone but an auditor holding audit:read', async () => {
    for (const refused of [await fx.gql(VERIFY), await postGraphQL(fx.server.url, { query: VERIFY }, { authorization: `Bearer ${await carol.token(['api'])}` })]) {
      expect((refused.body as GraphQLBody).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect(refused.body.data).toBeNull();
    }
  });

  it('reports where the chain breaks when the store was edited under the running broker', async () => {
    const events = await access.events();
    const edited = events.map((e, i) => (i === 3 ? { ...e, data: { ...e.data, edited: true } } : e));
    await access.write(edited);
    const report = ((await carol.gql(VERIFY)).body.data as { auditChainVerification: Record<string, unknown> }).auditChainVerification;
    expect(report).toMatchObject({ intact: false, brokenAt: events[3]!.id, brokenPosition: 4, brokenReason: expect.stringMatching(/edited/) });
    // Re-hashed onward, every link holds again, but the next checkpoint's seal no longer does.
    const rewritten = rechain(edited, 3);
    await access.write(rewritten);
    const checkpoint = rewritten.slice(3).find((e) => e.type === 'audit.checkpoint')!;
    const again = ((await carol.gql(VERIFY)).body.data as { auditChainVerification: Record<string, unknown> }).auditChainVerification;
    expect(again).toMatchObject({ intact: false, brokenAt: checkpoint.id, checkpointsVerified: true });
  });
}

describe('the audit console API (embedded store)', () =>
  auditConsoleSuite(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-audit-console-'));
    const stores = await createEmbeddedStores({ dataDir, clock: systemClock, audit: auditLogOptions({ redactKeys: [], ...AUDIT }) });
    return { stores, access: auditFileAccess(join(dataDir, AUDIT_FILE_NAME)) };
  }),
);

describeWithRedis('the audit console API (Redis store)', () =>
  auditConsoleSuite(async () => {
    const prefix = uniquePrefix();
    const stores = await redisStoresForTest({ prefix, clock: systemClock, audit: auditLogOptions({ redactKeys: [], ...AUDIT }) });
    return { stores, access: auditStreamAccess(sharedRedisUrl, prefix) };
  }),
);
