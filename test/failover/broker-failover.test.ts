import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBrokerCluster } from '../support/broker-cluster.js';
import type { BrokerCluster } from '../support/broker-cluster.js';
import { upgradeStatus } from '../support/broker-fixture.js';
import { describeWithHaproxy } from '../support/haproxy.js';
import { INITIALIZE, mcpFetch, openSession } from '../support/mcp-http.js';
import { describeWithRedis, sharedRedisUrl, uniquePrefix } from '../support/redis.js';
import { checkAudit, readAuditLog, verifyWithCli } from '../support/soak-audit.js';
import type { AuditFindings } from '../support/soak-audit.js';
import { runSoak } from '../support/soak-load.js';
import { SoakPeople } from '../support/soak-people.js';
import type { SoakRun } from '../support/soak-load.js';

/**
 * Issue 21 point 3, CI-sized (`npm run soak` runs it at full size): three `portcullis
 * serve` processes on one Redis behind the shipped HAProxy configuration, tens of MCP
 * sessions over WebSocket and Streamable HTTP, a few hundred calls, grants revoked and
 * approved throughout, one instance killed with SIGKILL and started again. Paced by
 * calls made, never by the clock; deadlines are only there to turn a hang into a failure.
 */
describeWithRedis('three broker instances behind HAProxy, one killed with SIGKILL and restarted mid-load', () => {
  describeWithHaproxy('', () => {
    let cluster: BrokerCluster;
    let run: SoakRun;
    let findings: AuditFindings;

    beforeAll(async () => {
      // The instances run the built CLI (bin/portcullis.js runs dist/), as a deployment does.
      await promisify(execFile)(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json']);
      cluster = await startBrokerCluster({ redisUrl: sharedRedisUrl, keyPrefix: uniquePrefix() });
      run = await runSoak(cluster, { calls: 300, callsPerSession: 5, workers: 12, users: 4, revocations: 4, fault: { instance: 1, killAt: 0.3, restartAt: 0.6 }, deadlineMs: 60_000 });
      findings = checkAudit(run, await readAuditLog(cluster), await verifyWithCli(cluster));
    }, 900_000);

    afterAll(() => cluster?.stop());

    it('answers every call or refuses it with a reason, and none hangs', () => {
      expect(run.calls).toHaveLength(300);
      expect(run.calls.filter((c) => c.outcome === 'hung')).toEqual([]);
      expect(run.openings.filter((o) => o.outcome === 'hung')).toEqual([]);
      expect(run.calls.filter((c) => c.outcome === 'refused' && !c.reason)).toEqual([]);
      expect(new Set(run.openings.filter((o) => o.outcome === 'opened').map((o) => o.transport))).toEqual(new Set(['websocket', 'streamable-http']));
    });

    it('keeps serving after the kill, and again through the restarted instance', () => {
      expect(run.calls.filter((c) => c.outcome === 'answered' && c.sentAt > run.restartedAt).length).toBeGreaterThan(0);
    });

    it('has every acknowledged event in the audit log once, in order, and the chain verifies', () => {
      expect(findings.verify.intact, findings.verify.output).toBe(true);
      expect(findings.problems).toEqual([]);
      expect(run.acknowledged.revocations.length).toBeGreaterThan(0);
      expect(run.acknowledged.reviews.length).toBeGreaterThan(0);
    });

    it('sends new sessions past an instance that just died, and answers its sessions 404 elsewhere (never carried on)', async () => {
      const [engineer] = (await SoakPeople.signIn(cluster, 1)).engineers;
      const { token } = engineer!;
      const endpoint = (base: string) => `${base}/mcp/everything`;
      const session = await openSession(endpoint(cluster.url), token);
      const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
      // Its instance is the one that knows its id.
      const holds = await Promise.all(cluster.instances.map(async (i) => (await mcpFetch(endpoint(i.url), list, { token, session, accept: 'application/json' })).status !== 404));
      await cluster.instances[holds.indexOf(true)]!.kill();
      // Before the health checks see it down (two checks 2 s apart), round robin picks it for one new session in three.
      const opened: number[] = [];
      for (let i = 0; i < cluster.instances.length * 2; i++) {
        opened.push((await mcpFetch(endpoint(cluster.url), INITIALIZE, { token, accept: 'application/json' })).status);
        opened.push(await upgradeStatus(`${cluster.url.replace('http', 'ws')}/mcp/ws/everything`, { authorization: `Bearer ${token}` }));
      }
      expect(opened).toEqual(Array(cluster.instances.length * 2).fill([200, 101]).flat());
      expect((await mcpFetch(endpoint(cluster.url), list, { token, session, accept: 'application/json' })).status).toBe(404);
    });
  });
});
