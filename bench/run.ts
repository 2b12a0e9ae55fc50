/**
 * `npm run bench [-- --quick] [-- --only=NAME[,NAME]] [-- --cpu-prof]`: starts a private
 * Redis, the bench upstream and, per scenario, broker processes on loopback; runs each
 * scenario against the broker and against a direct connection to the same upstream;
 * prints a table and writes bench/results.json. --quick runs everything at a tenth of
 * the size (a smoke check); --cpu-prof writes a V8 CPU profile of each broker's timed
 * windows to bench/profiles/<scenario>-<n>/ (summarise one with bench/profile-summary.ts);
 * --base=<checkout> gives the relay scenario a second broker run from that checkout (before/after).
 */
import { join, resolve } from 'node:path';
import { startRedisServer } from '../test/support/redis-server.js';
import { createTestIdp } from '../test/support/test-idp.js';
import { benchConfig } from './deployment.js';
import type { BenchEnvironment } from './deployment.js';
import { buildBroker, REPO_ROOT, startBrokerProcess, startHttpUpstream } from './processes.js';
import type { BrokerProcess } from './processes.js';
import { machine, table, writeResults } from './report.js';
import type { Figure } from './report.js';
import type { Scenario, ScenarioContext } from './scenario.js';
import { auditLatency } from './scenarios/audit-latency.js';
import { consoleLoad } from './scenarios/console.js';
import { detection } from './scenarios/detection.js';
import { frontDoor } from './scenarios/front-door.js';
import { latency } from './scenarios/latency.js';
import { login } from './scenarios/login.js';
import { memory } from './scenarios/memory.js';
import { peers, relay } from './scenarios/peers.js';
import { policyCost } from './scenarios/policy-cost.js';
import { redisOps } from './scenarios/redis-ops.js';
import { revocation } from './scenarios/revocation.js';
import { throughput } from './scenarios/throughput.js';
import { notifications } from './scenarios/notifications.js';
import { auditExport } from './scenarios/export.js';

/** In the order: latency, throughput, revocation, audit latency, memory, login; then what a call's policy costs (issue 14), the Streamable HTTP front door (issue 15), the web console (issue 16), outlier detection (issue 17), notifications (issue 19), audit export (issue 20), the peer relays side by side (issue 22) and Redis operations per call and session for capacity planning (issue 21). */
const SCENARIOS: Scenario[] = [latency, throughput, revocation, auditLatency, memory, login, policyCost, frontDoor, consoleLoad, detection, notifications, auditExport, peers, relay, redisOps];

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const cpuProf = args.includes('--cpu-prof');
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');
const baseTree = args.find((a) => a.startsWith('--base='))?.slice('--base='.length);
const unknown = args.filter((a) => a !== '--quick' && a !== '--cpu-prof' && !a.startsWith('--only=') && !a.startsWith('--base='));
if (unknown.length > 0 || only?.some((name) => !SCENARIOS.some((s) => s.name === name)) || baseTree === '') {
  console.error(`usage: npm run bench -- [--quick] [--cpu-prof] [--base=<another checkout>] [--only=${SCENARIOS.map((s) => s.name).join(',')}]`);
  process.exit(2);
}

// The MCP SDK's HTTP client adds an abort listener per request to one signal (undici frees
// them at collection): Node would warn thousands of times. Each kind of warning once is enough.
const warned = new Set<string>();
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warned.has(warning.name)) return;
  warned.add(warning.name);
  console.error(`${warning.name}: ${warning.message} (further ones not shown)`);
});

// The brokers run compiled, as `npm start` runs them (bench/broker-process.ts).
buildBroker();
if (baseTree) buildBroker(resolve(baseTree));

const startedAt = new Date().toISOString();
const host = machine();
if (host.loadAverage1m > 1) console.error(`warning: load average ${host.loadAverage1m.toFixed(2)} over the last minute: if something else is still busy, the figures will be skewed`);
const redis = await startRedisServer();
const httpUpstream = await startHttpUpstream();
// Interrupted: the private Redis would outlive us (brokers and the upstream notice on their own).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void redis.kill().finally(() => process.exit(130)));
const env: BenchEnvironment = { redisUrl: redis.url, idp: await createTestIdp('corp'), httpUpstream };
const figures: Figure[] = [];
try {
  for (const scenario of SCENARIOS.filter((s) => !only || only.includes(s.name))) {
    const brokers: BrokerProcess[] = [];
    const context: ScenarioContext = {
      env,
      quick,
      size: (n) => (quick ? Math.max(1, Math.round(n / 10)) : n),
      startBroker: async (config = benchConfig(env)) => {
        const profileDir = join(REPO_ROOT, 'bench/profiles', `${scenario.name}-${brokers.length + 1}`);
        const broker = await startBrokerProcess(config, cpuProf ? { profileDir } : {});
        brokers.push(broker);
        return broker;
      },
      ...(baseTree
        ? {
            startBaseBroker: async (config = benchConfig(env)) => {
              const broker = await startBrokerProcess(config, { tree: resolve(baseTree) });
              brokers.push(broker);
              return broker;
            },
          }
        : {}),
      progress: (message) => process.stderr.write(`[${scenario.name}] ${message}\n`),
    };
    context.progress('starting');
    try {
      figures.push(...(await scenario.run(context)));
    } finally {
      await Promise.all(brokers.map((b) => b.stop()));
    }
  }
} finally {
  await httpUpstream.stop();
  await redis.stop();
}

process.stdout.write(`${table(figures)}\n`);
writeResults(join(REPO_ROOT, 'bench/results.json'), { machine: host, startedAt, quick, results: figures });
process.stdout.write('wrote bench/results.json\n');
