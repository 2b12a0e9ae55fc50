import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessConfig, PEOPLE } from '../support/access-fixture.js';
import { seedAnomaly } from '../support/anomaly-seed.js';
import { describeOnEachStore } from '../support/each-store.js';
import type { StartServer } from '../support/each-store.js';
import { cookieWsClient, createApiToken, postGraphQL, testConfig } from '../support/test-server.js';
import type { GraphQLBody, TestServer } from '../support/test-server.js';
import { createTestIdp, signIn, TEST_PUBLIC_URL } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';

const FIELDS = 'id rule severity score summary user server tool sessionId at status acknowledgedBy note auditEventId observed baseline responses { action outcome }';
const LIST = `query($filter: AnomalyFilter, $first: Int, $after: String) { anomalies(filter: $filter, first: $first, after: $after) { items { id } pageInfo { endCursor hasNextPage } } }`;
const ONE = `query($id: ID!) { anomaly(id: $id) { ${FIELDS} triggeringEvents { id type actor } auditEvent { id type data } } }`;
const ACK = `mutation($id: ID!, $note: String) { acknowledgeAnomaly(id: $id, note: $note) { id status acknowledgedBy note } }`;
const SUPPRESS = `mutation($input: SuppressAnomaliesInput!) { suppressAnomalies(input: $input) { id user rule reason createdBy expiresAt } }`;
const SUPPRESSIONS = `{ anomalySuppressions { id user rule } }`;
const UNSUPPRESS = `mutation($id: ID!) { removeSuppression(id: $id) { id user rule } }`;
const FOLLOW = `subscription($after: String) { anomalyDetected(after: $after) { id rule user status summary auditEventId } }`;

const errorOf = (body: GraphQLBody) => body.errors?.[0];
const codeOf = (body: GraphQLBody) => errorOf(body)?.extensions?.code;

describeOnEachStore('anomalies over GraphQL', (start: StartServer) => {
  let server: TestServer;
  let idp: TestIdp;
  let cookies: Record<keyof typeof PEOPLE, string>;
  const gql = (who: keyof typeof PEOPLE, query: string, variables: Record<string, unknown> = {}) => postGraphQL(server.url, { query, variables }, { cookie: cookies[who] });
  const seed = (spec: Parameters<typeof seedAnomaly>[1]) => seedAnomaly(server.stores, spec);
  /** The newest events of a type, newest first, as the log holds them. */
  const eventsOfType = async (type: string) => (await server.stores.audit.readBackward({ limit: 50 })).filter((event) => event.type === type);

  beforeAll(async () => {
    idp = await createTestIdp('corp');
    const access = accessConfig();
    server = await start(testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, identityProviders: [idp.config], roles: access.roles, servers: access.servers }));
    const entries = await Promise.all(
      Object.entries(PEOPLE).map(async ([name, groups]) => [name, await signIn(server.url, idp, { nameId: `${name}@example.com`, attributes: { email: `${name}@example.com`, groups: [...groups] } })] as const),
    );
    cookies = Object.fromEntries(entries) as Record<keyof typeof PEOPLE, string>;
  });
  afterAll(() => server?.close());

  describe('an auditor', () => {
    it('lists anomalies newest first, filtered by status, user, rule and least severity, a page at a time', async () => {
      const user = `list-${Date.now()}@example.com`;
      const low = await seed({ user, rule: 'new_client', severity: 'low' });
      const high = await seed({ user, rule: 'probing', severity: 'high' });
      const critical = await seed({ user, rule: 'breadth', severity: 'critical' });
      const ids = async (filter: Record<string, unknown>) => ((await gql('carol', LIST, { filter: { user, ...filter } })).body.data as { anomalies: { items: { id: string }[] } }).anomalies.items.map((a) => a.id);
      expect(await ids({})).toEqual([critical.id, high.id, low.id]);
      expect(await ids({ severityAtLeast: 'HIGH' })).toEqual([critical.id, high.id]);
      expect(await ids({ rule: 'probing' })).toEqual([high.id]);
      const first = (await gql('carol', LIST, { filter: { user }, first: 2 })).body.data as { anomalies: { items: { id: string }[]; pageInfo: { endCursor: string; hasNextPage: boolean } } };
      expect(first.anomalies.items.map((a) => a.id)).toEqual([critical.id, high.id]);
      expect(first.anomalies.pageInfo.hasNextPage).toBe(true);
      const second = (await gql('carol', LIST, { filter: { user }, first: 2, after: first.anomalies.pageInfo.endCursor })).body.data as { anomalies: { items: { id: string }[] } };
      expect(second.anomalies.items.map((a) => a.id)).toEqual([low.id]);
      await gql('carol', ACK, { id: high.id });
      expect(await ids({ status: 'OPEN' })).toEqual([critical.id, low.id]);
      expect(await ids({ status: 'ACKNOWLEDGED' })).toEqual([high.id]);
    });

    it('reads one anomaly with what was observed beside its baseline, its triggering events and its anomaly.detected event', async () => {
      const seeded = await seed({ user: 'alice@example.com', triggering: 3 });
      const { body } = await gql('carol', ONE, { id: seeded.id });
      expect(body.errors).toBeUndefined();
      const anomaly = (body.data as { anomaly: Record<string, unknown> }).anomaly;
      expect(anomaly).toMatchObject({
        id: seeded.id,
        rule: 'probing',
        severity: 'HIGH',
        score: 1.5,
        user: 'alice@example.com',
        server: 'everything',
        tool: 'delete_file',
        sessionId: seeded.sessionId,
        status: 'OPEN',
        observed: { denials: 3, windowSeconds: 300 },
        baseline: { threshold: 2 },
        auditEventId: seeded.auditEventId,
        responses: [{ action: 'record', outcome: 'SUCCESS' }],
        triggeringEvents: seeded.eventIds.map((id) => ({ id, type: 'mcp.request', actor: 'alice@example.com' })),
        auditEvent: { id: seeded.auditEventId, type: 'anomaly.detected', data: expect.objectContaining({ anomalyId: seeded.id }) },
      });
    });

    it('acknowledges an open anomaly once, audited with the note before it is stored', async () => {
      const seeded = await seed({ user: 'frank@example.com' });
      const acked = await gql('carol', ACK, { id: seeded.id, note: '  pen test INC-77 ' });
      expect(acked.body.data).toEqual({ acknowledgeAnomaly: { id: seeded.id, status: 'ACKNOWLEDGED', acknowledgedBy: 'carol@example.com', note: 'pen test INC-77' } });
      const [event] = await eventsOfType('anomaly.acknowledged');
      expect(event).toMatchObject({ actor: 'carol@example.com', server: 'everything', data: { anomalyId: seeded.id, rule: 'probing', user: 'frank@example.com', note: 'pen test INC-77' } });
      const again = await gql('carol', ACK, { id: seeded.id, note: 'overwrite' });
      expect(errorOf(again.body)).toMatchObject({ extensions: { code: 'ALREADY_ACKNOWLEDGED', field: 'id' }, message: expect.stringContaining('carol@example.com') });
      expect((await server.stores.anomalies.get(seeded.id))?.note).toBe('pen test INC-77');
    });

    it('gets NOT_FOUND for an unknown anomaly id, reading or acknowledging', async () => {
      expect(codeOf((await gql('carol', ONE, { id: 'an_nope' })).body)).toBe('NOT_FOUND');
      expect(codeOf((await gql('carol', ACK, { id: 'an_nope' })).body)).toBe('NOT_FOUND');
      expect(codeOf((await gql('carol', UNSUPPRESS, { id: 'sp_nope' })).body)).toBe('NOT_FOUND');
    });

    it('suppresses a rule for a user (audited), lists it, and removes it (audited)', async () => {
      const input = { user: 'alice@example.com', rule: 'rate_spike', durationSeconds: 7 * 86_400, reason: 'migration this week' };
      const created = await gql('carol', SUPPRESS, { input });
      expect(created.body.errors).toBeUndefined();
      const suppression = (created.body.data as { suppressAnomalies: { id: string; expiresAt: string } }).suppressAnomalies;
      expect(suppression).toMatchObject({ user: 'alice@example.com', rule: 'rate_spike', reason: 'migration this week', createdBy: 'carol@example.com' });
      const [suppressed] = await eventsOfType('anomaly.suppressed');
      expect(suppressed).toMatchObject({ actor: 'carol@example.com', data: { suppressionId: suppression.id, user: 'alice@example.com', rule: 'rate_spike', reason: 'migration this week', expiresAt: suppression.expiresAt } });
      expect((await gql('carol', SUPPRESSIONS)).body.data).toEqual({ anomalySuppressions: expect.arrayContaining([{ id: suppression.id, user: 'alice@example.com', rule: 'rate_spike' }]) });
      expect((await gql('carol', UNSUPPRESS, { id: suppression.id })).body.data).toEqual({ removeSuppression: { id: suppression.id, user: 'alice@example.com', rule: 'rate_spike' } });
      const [unsuppressed] = await eventsOfType('anomaly.unsuppressed');
      expect(unsuppressed).toMatchObject({ actor: 'carol@example.com', data: { suppressionId: suppression.id, user: 'alice@example.com', rule: 'rate_spike' } });
      const after = (await gql('carol', SUPPRESSIONS)).body.data as { anomalySuppressions: { id: string }[] };
      expect(after.anomalySuppressions.map((s) => s.id)).not.toContain(suppression.id);
      expect(codeOf((await gql('carol', UNSUPPRESS, { id: suppression.id })).body)).toBe('NOT_FOUND');
    });

    it('refuses a suppression naming the field at fault, and records nothing', async () => {
      const valid = { user: 'alice@example.com', rule: 'probing', durationSeconds: 3600, reason: 'pen test' };
      const cases: [Record<string, unknown>, string][] = [
        [{ user: 'not an email' }, 'user'],
        [{ rule: 'no_such_rule' }, 'rule'],
        [{ durationSeconds: 0 }, 'durationSeconds'],
        [{ durationSeconds: 90 * 86_400 + 1 }, 'durationSeconds'],
        [{ reason: '   ' }, 'reason'],
        [{ reason: 'x'.repeat(1001) }, 'reason'],
      ];
      const before = (await eventsOfType('anomaly.suppressed')).length;
      for (const [change, field] of cases) {
        const { body } = await gql('carol', SUPPRESS, { input: { ...valid, ...change } });
        expect(errorOf(body)?.extensions, JSON.stringify(change)).toEqual({ code: 'INVALID_INPUT', field });
      }
      expect((await eventsOfType('anomaly.suppressed')).length).toBe(before);
    });

    it('is FORBIDDEN to acknowledge an anomaly about themselves or to suppress a rule for themselves, and records nothing', async () => {
      const aboutCarol = await seed({ user: 'Carol@Example.com' });
      const acks = (await eventsOfType('anomaly.acknowledged')).length;
      const ack = await gql('carol', ACK, { id: aboutCarol.id, note: 'fine' });
      expect(errorOf(ack.body)?.extensions).toEqual({ code: 'FORBIDDEN', field: 'id' });
      expect((await server.stores.anomalies.get(aboutCarol.id))?.status).toBe('open');
      expect((await eventsOfType('anomaly.acknowledged')).length).toBe(acks);
      const suppressions = (await eventsOfType('anomaly.suppressed')).length;
      const suppress = await gql('carol', SUPPRESS, { input: { user: ' CAROL@example.com ', rule: 'probing', durationSeconds: 3600, reason: 'mine' } });
      expect(errorOf(suppress.body)?.extensions).toEqual({ code: 'FORBIDDEN', field: 'user' });
      expect((await eventsOfType('anomaly.suppressed')).length).toBe(suppressions);
      expect(((await gql('carol', SUPPRESSIONS)).body.data as { anomalySuppressions: { user: string }[] }).anomalySuppressions.map((s) => s.user.toLowerCase())).not.toContain('carol@example.com');
    });

    it('needs the api scope to act: an audit:read token reads anomalies but cannot acknowledge or suppress', async () => {
      const seeded = await seed({ user: 'alice@example.com' });
      const token = await createApiToken(server.url, cookies.carol, ['audit:read']);
      const bearer = { authorization: `Bearer ${token}` };
      const read = await postGraphQL(server.url, { query: ONE, variables: { id: seeded.id } }, bearer);
      expect((read.body.data as { anomaly: { id: string } }).anomaly.id).toBe(seeded.id);
      const ack = await postGraphQL(server.url, { query: ACK, variables: { id: seeded.id } }, bearer);
      expect(codeOf(ack.body)).toBe('FORBIDDEN');
      const suppress = await postGraphQL(server.url, { query: SUPPRESS, variables: { input: { user: 'alice@example.com', rule: 'probing', durationSeconds: 60, reason: 'x' } } }, bearer);
      expect(codeOf(suppress.body)).toBe('FORBIDDEN');
      expect((await server.stores.anomalies.get(seeded.id))?.status).toBe('open');
    });
  });

  describe('anyone else', () => {
    it('is FORBIDDEN every anomaly operation, even about themselves, whether the id exists or not', async () => {
      const aboutAlice = await seed({ user: 'alice@example.com' });
      const probes = [
        await gql('alice', LIST),
        await gql('alice', ONE, { id: aboutAlice.id }),
        await gql('alice', ONE, { id: 'an_nope' }),
        await gql('alice', ACK, { id: aboutAlice.id }),
        await gql('bob', ACK, { id: 'an_nope' }),
        await gql('alice', SUPPRESS, { input: { user: 'alice@example.com', rule: 'probing', durationSeconds: 60, reason: 'me' } }),
        await gql('bob', SUPPRESSIONS),
        await gql('bob', UNSUPPRESS, { id: 'sp_nope' }),
      ];
      for (const probe of probes) expect(codeOf(probe.body)).toBe('FORBIDDEN');
      expect(errorOf(probes[1]!.body)?.message).toBe(errorOf(probes[2]!.body)?.message);
      expect((await server.stores.anomalies.get(aboutAlice.id))?.status).toBe('open');
    });

    it('cannot subscribe to anomalyDetected', async () => {
      const client = cookieWsClient(server, cookies.alice, TEST_PUBLIC_URL);
      try {
        // Refused as it starts: one result carrying the error, then the end.
        const errors = await new Promise<unknown>((resolve) => client.subscribe({ query: FOLLOW }, { next: (value) => resolve(value.errors), error: resolve, complete: () => resolve(null) }));
        expect(errors).toEqual([expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })]);
      } finally {
        await client.dispose();
      }
    });
  });

  describe('anomalyDetected', () => {
    it('replays the anomalies raised after a cursor, then follows new ones, built from the event when the store dropped the record', async () => {
      const user = `follow-${Date.now()}@example.com`;
      const first = await seed({ user });
      const second = await seed({ user, rule: 'breadth' });
      const client: Client = cookieWsClient(server, cookies.carol, TEST_PUBLIC_URL);
      const seen: { id: string; rule: string; user: string; status: string; auditEventId: string }[] = [];
      const failures: unknown[] = [];
      try {
        client.subscribe<{ anomalyDetected: (typeof seen)[number] }>(
          { query: FOLLOW, variables: { after: first.auditEventId } },
          { next: (value) => value.data && value.data.anomalyDetected.user === user && seen.push(value.data.anomalyDetected), error: (e) => failures.push(e), complete: () => {} },
        );
        await expect.poll(() => seen.map((a) => a.id)).toEqual([second.id]);
        const live = await seed({ user, rule: 'off_hours' });
        const dropped = await seed({ user, rule: 'new_client', eventOnly: true });
        await expect.poll(() => seen.map((a) => a.id)).toEqual([second.id, live.id, dropped.id]);
        expect(seen[2]).toEqual({ id: dropped.id, rule: 'new_client', user, status: 'OPEN', summary: dropped.summary, auditEventId: dropped.auditEventId });
        expect(failures).toEqual([]);
      } finally {
        await client.dispose();
      }
    });
  });
});
