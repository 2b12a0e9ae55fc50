import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AnomalyFieldsFragment, AnomalySuppressionFieldsFragment } from '../../clients/graphql/generated/graphql.js';
import { seedAnomaly } from '../support/anomaly-seed.js';
import { brokerConfig } from '../support/broker-fixture.js';
import { cliEnvFor, finished, runCli, runCliJson, spawnCli } from '../support/cli.js';
import { describeOnEachStore } from '../support/each-store.js';
import { createTestIdp } from '../support/test-idp.js';
import type { TestServer } from '../support/test-server.js';

/** Each run of the CLI is a process of its own, which takes seconds on a loaded machine. */
const SPAWNING = 60_000;
const person = (name: string, groups: string[]) => ({ nameId: `${name}@example.com`, attributes: { email: `${name}@example.com`, groups } });
const ROLES = [
  { name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['echo'], maxDurationSeconds: 3600, autoApprove: true }] },
  { name: 'auditor', members: { groups: ['security'] }, audit: true },
];

describeOnEachStore('portcullis anomalies', (start) => {
  let server: TestServer;
  let alice: NodeJS.ProcessEnv;
  let carol: NodeJS.ProcessEnv;
  const seed = (spec: Parameters<typeof seedAnomaly>[1]) => seedAnomaly(server.stores, spec);

  beforeAll(async () => {
    const idp = await createTestIdp('corp');
    server = await start(brokerConfig(idp, { roles: ROLES }));
    [alice, carol] = await Promise.all([cliEnvFor(server.url, idp, person('alice', ['engineering'])), cliEnvFor(server.url, idp, person('carol', ['security']), ['api', 'audit:read'])]);
  });
  afterAll(() => server?.close());

  describe('for an auditor', () => {
    it('lists anomalies as a table (time, severity, rule, user, status, summary) and as JSON, filtered by status and user', async () => {
      const user = `table-${Date.now()}@example.com`;
      const older = await seed({ user, rule: 'new_client', severity: 'low' });
      const newer = await seed({ user, rule: 'probing', severity: 'high' });
      const listed = await runCli(['anomalies', '--user', user], carol);
      expect(listed.code, listed.stderr).toBe(0);
      const [header, ...rows] = listed.stdout.trim().split('\n');
      expect(header!.split(/\s{2,}/)).toEqual(['ID', 'TIME', 'SEVERITY', 'RULE', 'USER', 'STATUS', 'SUMMARY']);
      expect(rows.map((row) => row.split(/\s{2,}/).slice(2, 6))).toEqual([
        ['HIGH', 'probing', user, 'OPEN'],
        ['LOW', 'new_client', user, 'OPEN'],
      ]);
      expect(rows[0]).toContain(newer.summary);
      await server.stores.anomalies.update({ ...older, status: 'acknowledged', acknowledgedBy: 'carol@example.com', acknowledgedAt: Date.now(), version: older.version + 1 });
      const open = await runCliJson<AnomalyFieldsFragment[]>(['anomalies', '--user', user, '--status', 'open'], carol);
      expect(open.map((a) => a.id)).toEqual([newer.id]);
      const acknowledged = await runCliJson<AnomalyFieldsFragment[]>(['anomalies', '--user', user, '--status', 'acknowledged'], carol);
      expect(acknowledged.map((a) => [a.id, a.status, a.acknowledgedBy])).toEqual([[older.id, 'ACKNOWLEDGED', 'carol@example.com']]);
    }, SPAWNING);

    it('shows one anomaly: observed beside baseline, and the triggering events by cursor', async () => {
      const seeded = await seed({ user: 'alice@example.com', triggering: 2 });
      const shown = await runCli(['anomalies', 'show', seeded.id], carol);
      expect(shown.code, shown.stderr).toBe(0);
      const lines = shown.stdout.split('\n');
      expect(lines.find((line) => line.startsWith('Summary'))).toContain(seeded.summary);
      expect(lines.find((line) => line.startsWith('denials'))?.split(/\s{2,}/)).toEqual(['denials', '2', '-']);
      expect(lines.find((line) => line.startsWith('threshold'))?.split(/\s{2,}/)).toEqual(['threshold', '-', '2']);
      for (const id of seeded.eventIds) expect(lines.some((line) => line.startsWith(`${id} `) && line.includes('mcp.request') && line.includes('DENIED'))).toBe(true);
    });

    it('acknowledges with a note, once', async () => {
      const seeded = await seed({ user: 'alice@example.com' });
      const acked = await runCli(['anomalies', 'ack', seeded.id, '--note', 'pen test INC-77'], carol);
      expect(acked.stdout).toBe(`Acknowledged ${seeded.id} (probing, alice@example.com).\n`);
      expect((await server.stores.anomalies.get(seeded.id))?.note).toBe('pen test INC-77');
      const again = await runCli(['anomalies', 'ack', seeded.id], carol);
      expect(again.code).toBe(1);
      expect(again.stderr).toMatch(/^portcullis: ALREADY_ACKNOWLEDGED: the anomaly was already acknowledged by carol@example\.com\n$/);
    }, SPAWNING);

    it('suppresses a rule for a user for a duration, lists the suppression and removes it', async () => {
      const created = await runCliJson<AnomalySuppressionFieldsFragment>(['anomalies', 'suppress', '--user', 'alice@example.com', '--rule', 'rate_spike', '--for', '7d', '--reason', 'migration'], carol);
      expect(created).toMatchObject({ user: 'alice@example.com', rule: 'rate_spike', reason: 'migration', createdBy: 'carol@example.com' });
      expect(Date.parse(created.expiresAt) - Date.parse(created.createdAt)).toBe(7 * 86_400_000);
      const listed = await runCli(['anomalies', 'suppressions'], carol);
      expect(listed.stdout.split('\n').find((line) => line.startsWith(created.id))?.split(/\s{2,}/)).toEqual([created.id, 'alice@example.com', 'rate_spike', expect.stringMatching(/UTC \(in 7d\)$/), 'carol@example.com', 'migration']);
      const removed = await runCli(['anomalies', 'unsuppress', created.id], carol);
      expect(removed.stdout).toBe(`Removed ${created.id}: rate_spike is raised for alice@example.com again.\n`);
      expect((await server.stores.anomalies.suppressions(Date.now())).map((s) => s.id)).not.toContain(created.id);
    }, SPAWNING);

    it('refuses a suppression the broker would not take, with its code', async () => {
      const longer = await runCli(['anomalies', 'suppress', '--user', 'alice@example.com', '--rule', 'probing', '--for', '91d', '--reason', 'x'], carol);
      expect(longer.code).toBe(1);
      expect(longer.stderr).toMatch(/^portcullis: INVALID_INPUT: durationSeconds must be from 1 to 7776000 \(90 days\)/);
      const unknownRule = await runCli(['anomalies', 'suppress', '--user', 'alice@example.com', '--rule', 'nope', '--for', '1d', '--reason', 'x'], carol);
      expect(unknownRule.stderr).toMatch(/^portcullis: INVALID_INPUT: rule must be one of first_use_by_user, /);
    }, SPAWNING);

    it('--follow prints the listed anomalies, then each new one as it is raised', async () => {
      const user = `follow-${Date.now()}@example.com`;
      const before = await seed({ user });
      const child = spawnCli(['anomalies', '--follow', '--json', '--user', user], carol);
      const done = finished(child);
      const lines: AnomalyFieldsFragment[] = [];
      let buffer = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const complete = buffer.split('\n');
        buffer = complete.pop()!;
        for (const line of complete) lines.push(JSON.parse(line) as AnomalyFieldsFragment);
      });
      try {
        await expect.poll(() => lines.map((a) => a.id), { timeout: 15_000 }).toEqual([before.id]);
        const raised = await seed({ user, rule: 'breadth' });
        await expect.poll(() => lines.map((a) => a.id), { timeout: 15_000 }).toEqual([before.id, raised.id]);
        expect(lines[1]).toMatchObject({ rule: 'breadth', user, status: 'OPEN' });
      } finally {
        child.kill('SIGTERM');
        await done;
      }
    });
  });

  it('refuses anyone but an auditor', async () => {
    const seeded = await seed({ user: 'alice@example.com' });
    for (const args of [['anomalies'], ['anomalies', 'ack', seeded.id]]) {
      const refused = await runCli(args, alice);
      expect(refused.code, args.join(' ')).toBe(1);
      expect(refused.stderr).toMatch(/^portcullis: FORBIDDEN: only auditors \(with the audit:read scope\) see anomalies\n$/);
    }
  }, SPAWNING);
});
