import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startBrokerCluster } from '../support/broker-cluster.js';
import type { BrokerCluster } from '../support/broker-cluster.js';
import { describeWithHaproxy } from '../support/haproxy.js';
import { describeWithRedis, sharedRedisUrl, uniquePrefix } from '../support/redis.js';
import { checkAudit, readAuditLog, verifyWithCli } from '../support/soak-audit.js';
import type { AuditFindings } from '../support/soak-audit.js';
import { runSoak } from '../support/soak-load.js';
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
  });
});
