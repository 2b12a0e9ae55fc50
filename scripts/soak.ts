/**
 * `npm run soak`: the failover soak at full size (not in CI; test/failover/ runs a small
 * one). Three `portcullis serve` processes on a private Redis behind HAProxy, hundreds of
 * MCP sessions, thousands of calls, grants revoked and approved throughout, one instance
 * killed with SIGKILL and restarted. Prints a summary and writes it as JSON; exits 1 when
 * a call hung or the audit log broke a promise. Needs `npm run build` (it runs the built
 * CLI), redis-server and haproxy on PATH.
 *
 *   npm run soak -- [--calls 6000] [--workers 60] [--calls-per-session 10] [--users 12] [--revocations 24] [--out soak-results.json]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startBrokerCluster } from '../test/support/broker-cluster.js';
import { startRedisServer } from '../test/support/redis-server.js';
import { checkAudit, readAuditLog, verifyWithCli } from '../test/support/soak-audit.js';
import { runSoak } from '../test/support/soak-load.js';
import { summarize } from '../test/support/soak-summary.js';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '6000' },
    workers: { type: 'string', default: '60' },
    'calls-per-session': { type: 'string', default: '10' },
    users: { type: 'string', default: '12' },
    revocations: { type: 'string', default: '24' },
    out: { type: 'string', default: 'soak-results.json' },
  },
});

const redis = await startRedisServer();
const cluster = await startBrokerCluster({ redisUrl: redis.url, keyPrefix: 'soak:' });
try {
  const started = Date.now();
  const run = await runSoak(cluster, {
    calls: Number(values.calls),
    workers: Number(values.workers),
    callsPerSession: Number(values['calls-per-session']),
    users: Number(values.users),
    revocations: Number(values.revocations),
    fault: { instance: 1, killAt: 0.3, restartAt: 0.6 },
    deadlineMs: 30_000,
    log: (line) => console.error(`[${Math.round((Date.now() - started) / 1000)} s] ${line}`),
  });
  const findings = checkAudit(run, await readAuditLog(cluster), await verifyWithCli(cluster));
  const summary = { durationSeconds: Math.round((Date.now() - started) / 1000), ...summarize(run, findings) };
  const json = `${JSON.stringify(summary, null, 2)}\n`;
  process.stdout.write(json);
  writeFileSync(values.out, json);
  process.stdout.write(`written to ${values.out}\n`);
  process.exitCode = summary.calls.hung + summary.sessions.hung + summary.audit.problems.length === 0 ? 0 : 1;
} finally {
  await cluster.stop();
  await redis.stop();
}
