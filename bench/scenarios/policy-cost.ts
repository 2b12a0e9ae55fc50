import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CompiledGrant } from '../../server/access/grant-decision.js';
import type { GrantTerms } from '../../server/access/grant-decision.js';
import { meteredWindow } from '../cpu-meter.js';
import { benchConfig, engineerWithGrant } from '../deployment.js';
import { closedLoop } from '../load.js';
import { brokered, closeAll } from '../mcp-clients.js';
import { pooled } from '../pool.js';
import type { BrokerProcess } from '../processes.js';
import { figure } from '../report.js';
import type { Figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { percentile } from '../stats.js';
import { timeCalls } from './latency.js';
import { CONNECT_CONCURRENCY } from './throughput.js';

const SESSIONS = 16;
const IN_FLIGHT = 4;
const ROUNDS = 5;
const ROUND_SECONDS = 3;
const WARMUP_SECONDS = 2;
const SEQUENTIAL_CALLS = 2_000;
/** Sequential calls alternate between the brokers in blocks of this many, so drift on the machine hits each alike. */
const BLOCK = 200;

/** Counted on every call, never reached by this load (a few thousand calls a second, 64 in flight). */
const NEVER_REFUSING = { calls: 1_000_000, windowSeconds: 60, concurrent: 10_000 };
const WINDOWS_ONLY = { calls: NEVER_REFUSING.calls, windowSeconds: NEVER_REFUSING.windowSeconds };

/** A realistic argument rule on the echo tool: a pattern, a length cap, no other argument. */
const ECHO_RULE = { type: 'object', properties: { message: { type: 'string', maxLength: 4096, pattern: '^[\\x20-\\x7e]*$' } }, required: ['message'], additionalProperties: false };

/**
 * What a call passes through on its way, as the `http` server's entry and the engineers'
 * rule say: the first is the baseline the others are measured against.
 */
const VARIANTS: { name: string; http: { server?: Record<string, unknown>; rule?: Record<string, unknown> } }[] = [
  { name: 'no policy', http: {} },
  { name: 'argument rules (one JSON Schema on the tool)', http: { rule: { arguments: { echo: ECHO_RULE } } } },
  { name: 'rate limits: calls per window (server and tool)', http: { server: { rateLimits: { ...WINDOWS_ONLY, tools: { echo: WINDOWS_ONLY } } } } },
  { name: 'rate limits: per window and concurrent (server and tool)', http: { server: { rateLimits: { ...NEVER_REFUSING, tools: { echo: NEVER_REFUSING } } } } },
];

interface Measured {
  name: string;
  broker: BrokerProcess;
  clients: Client[];
  calls: number;
  seconds: number;
  brokerMicros: number;
  redisMicros: number;
  sequentialMs: number[];
  sequentialMicros: number;
}

/**
 * The broker CPU a call's policy costs (issue 14, item 7): one broker per variant, each on
 * the Redis store with one person's 16 sessions on the HTTP upstream. Under load (4 calls
 * in flight per session) the variants take turns in rounds, so drift on the machine hits
 * each alike; the figure there also moves with batching (fewer calls per second make
 * larger audit group commits). Then one call at a time, alternating in blocks: the CPU per
 * call with no batching, and the latency (a limit is one awaited store round trip before
 * the call is audited). Also each variant's Redis CPU per call: limits are counted there.
 */
export const policyCost: Scenario = {
  name: 'policy-cost',
  async run(ctx) {
    const { env } = ctx;
    const measured: Measured[] = [];
    for (const variant of VARIANTS) {
      ctx.progress(`${variant.name}: ${SESSIONS} sessions`);
      const broker = await ctx.startBroker(benchConfig(env, undefined, variant.http));
      const { token } = await engineerWithGrant(broker, env.idp, 'alice', 'http');
      const clients = await pooled(SESSIONS, CONNECT_CONCURRENCY, () => brokered(broker.wsUrl, 'http', token));
      await closedLoop(clients, IN_FLIGHT, ctx.size(WARMUP_SECONDS));
      measured.push({ name: variant.name, broker, clients, calls: 0, seconds: 0, brokerMicros: 0, redisMicros: 0, sequentialMs: [], sequentialMicros: 0 });
    }
    for (let round = 1; round <= ROUNDS; round++) {
      ctx.progress(`round ${round} of ${ROUNDS}: ${ctx.size(ROUND_SECONDS)} s per variant`);
      for (const [i, m] of measured.entries()) {
        const { result, cpu, cpuMicros } = await meteredWindow(m.broker, env, `variant-${i + 1}-round-${round}`, () => closedLoop(m.clients, IN_FLIGHT, ctx.size(ROUND_SECONDS)));
        m.calls += result.calls;
        m.seconds += result.seconds;
        m.brokerMicros += cpuMicros;
        m.redisMicros += cpu.redis;
      }
    }
    ctx.progress(`sequential: ${ctx.size(SEQUENTIAL_CALLS)} calls per variant`);
    const sequential = async () => {
      for (let done = 0; done < ctx.size(SEQUENTIAL_CALLS); done += BLOCK) {
        for (const m of measured) m.sequentialMs.push(...(await timeCalls(m.clients[0]!, BLOCK)));
      }
    };
    // Every broker's window spans the whole loop (each idles while the others' blocks run), so its CPU is its own calls'.
    const windowed = measured.reduceRight<() => Promise<void>>((inner, m, i) => async () => {
      m.sequentialMicros = (await m.broker.window(`variant-${i + 1}-sequential`, inner)).cpuMicros;
    }, sequential);
    await windowed();
    await Promise.all(measured.map((m) => closeAll(m.clients)));
    return [...figuresOf(measured), ...decisionCost(ctx.size(DECISIONS))];
  },
};

const DECISIONS = 200_000;

/**
 * The decision alone, in this process, with and without the argument rule: the end-to-end
 * figures above move by tens of µs with the machine's noise, this one does not. It is what
 * an argument rule adds to a call's CPU in the broker.
 */
function decisionCost(n: number): Figure[] {
  const terms: GrantTerms = { id: 'g', rule: null, expiresAt: Infinity, tools: ['echo'], denyTools: [], resources: [], denyResources: [], prompts: [], denyPrompts: [], readOnly: false, readOnlyTools: null, arguments: {} };
  const perDecision = (grant: CompiledGrant) => {
    const subject = { kind: 'tool', name: 'echo', arguments: { message: 'bench-call-0000000042' } } as const;
    for (let i = 0; i < 1000; i++) grant.decide(subject);
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (!grant.decide(subject).allowed) throw new Error('the bench call must be allowed');
    return Number(process.hrtime.bigint() - start) / 1000 / n;
  };
  const without = perDecision(new CompiledGrant(terms));
  const withRule = perDecision(new CompiledGrant({ ...terms, arguments: { echo: [ECHO_RULE] } }));
  const scenario = 'policy cost: the grant decision alone (in process)';
  return [figure(scenario, 'tool call decision, no argument rule', without, 'µs'), figure(scenario, 'tool call decision, one argument rule', withRule, 'µs'), figure(scenario, 'added by the argument rule', withRule - without, 'µs')];
}

function figuresOf(measured: readonly Measured[]): Figure[] {
  const baseline = measured[0]!;
  /** The figure, and beside it what it adds to the baseline's. */
  const withAdded = (scenario: string, m: Measured, metric: string, of: (m: Measured) => number, unit: string) => [
    figure(scenario, metric, of(m), unit),
    ...(m === baseline ? [] : [figure(scenario, `added ${metric}`, of(m) - of(baseline), unit)]),
  ];
  return measured.flatMap((m) => {
    const scenario = `policy cost (http upstream): ${m.name}`;
    return [
      ...withAdded(scenario, m, `broker CPU per call under load (${SESSIONS} sessions x ${IN_FLIGHT} in flight)`, (v) => v.brokerMicros / v.calls, 'µs'),
      figure(scenario, 'Redis CPU per call under load', m.redisMicros / m.calls, 'µs'),
      figure(scenario, 'calls/s under load', m.calls / m.seconds, 'calls/s'),
      ...withAdded(scenario, m, 'broker CPU per sequential call', (v) => v.sequentialMicros / v.sequentialMs.length, 'µs'),
      ...withAdded(scenario, m, 'sequential p50', (v) => percentile(v.sequentialMs, 50), 'ms'),
    ];
  });
}
