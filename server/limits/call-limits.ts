import type { CallAdmission, CallLimits } from '../../broker/core/call-limits.js';
import type { McpServerConfig, ToolRateLimits } from '../config/schema.js';
import { StoreUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import type { RateLimitStore } from '../stores/types.js';
import type { Lease, LeaseKeeper } from './lease-keeper.js';

type Refusal = Extract<CallAdmission, { refused: unknown }>['refused'];

/**
 * A concurrency refusal's retry-after. A place frees when one of the person's calls in
 * flight ends, which nothing here can foresee: one second is a hint to back off, not a promise.
 */
export const CONCURRENCY_RETRY_MS = 1000;

/** The retry-after of a call refused because the store could not count it (a store outage is short or it is not). */
export const UNCOUNTED_RETRY_MS = 1000;

/** One limit a call is counted against, for one user: passed (holding a lease for a concurrency limit) or refused. */
type Check = (userId: string) => Promise<{ lease: Lease | null } | { refused: Refusal }>;

const PASSED = { lease: null };
const ADMITTED: CallAdmission = { release: () => {} };

/**
 * Rate limits on tool calls (`servers[].rateLimits`), per user, per server and per tool,
 * over the two shared seams: windows on the store's rate limiters (rate-limiter-flexible,
 * counted in Redis across instances) and concurrency on leases (a place per call in
 * flight, which lapses if the instance holding it dies). A tool on a server with no limit
 * for it is admitted synchronously, with nothing counted.
 *
 * Every limit of a call is counted at once (one store round trip of latency, not one per
 * limit); a call refused by one limit gives back the places it took from the others, but
 * the windows it passed keep its point: an attempt counts, as rate-limiter-flexible counts
 * the refused ones too. Of several refusals the one with the longest retry-after is told,
 * since no earlier retry could pass. Fails closed: a call the store cannot count is
 * refused (as `rate_limited`, its clause saying why), since an uncounted call is an
 * unlimited one.
 */
export class ConfiguredCallLimits implements CallLimits {
  /** Per server, per tool: every check a call of that tool passes (tools without limits of their own share the server's). */
  private readonly plans = new Map<string, { server: Check[]; tools: Map<string, Check[]> }>();

  constructor(
    servers: readonly McpServerConfig[],
    private readonly deps: { rateLimits: RateLimitStore; leases: LeaseKeeper; logger: Logger },
  ) {
    for (const { name, rateLimits } of servers) {
      if (!rateLimits) continue;
      const server = this.checksOf(rateLimits, `mcp-calls:${name}`, `servers.${name}.rateLimits`);
      const tools = new Map([...(rateLimits.tools ?? [])].map(([tool, limits]) => [tool, [...server, ...this.checksOf(limits, `mcp-tool-calls:${name}:${tool}`, `servers.${name}.rateLimits.tools.${tool}`)]]));
      this.plans.set(name, { server, tools });
    }
  }

  admit(call: { userId: string; server: string; tool: string }): CallAdmission | Promise<CallAdmission> {
    const plan = this.plans.get(call.server);
    const checks = plan && (plan.tools.get(call.tool) ?? plan.server);
    if (!checks || checks.length === 0) return ADMITTED;
    return this.count(checks, call);
  }

  private async count(checks: readonly Check[], call: { userId: string; server: string }): Promise<CallAdmission> {
    const outcomes = await Promise.allSettled(checks.map((check) => check(call.userId)));
    const leases: Lease[] = [];
    let refused: Refusal | null = null;
    let failure: unknown = null;
    for (const outcome of outcomes) {
      if (outcome.status === 'rejected') failure ??= outcome.reason;
      else if ('refused' in outcome.value) refused = refused && refused.retryAfterMs >= outcome.value.refused.retryAfterMs ? refused : outcome.value.refused;
      else if (outcome.value.lease) leases.push(outcome.value.lease);
    }
    const release = () => {
      for (const lease of leases) lease.release();
    };
    if (failure !== null) {
      release();
      if (!(failure instanceof StoreUnavailableError)) throw failure;
      this.deps.logger.warn({ err: failure, server: call.server }, 'rate limits cannot be counted: tool call refused');
      return { refused: { clause: `servers.${call.server}.rateLimits: cannot be counted right now (store unreachable)`, retryAfterMs: UNCOUNTED_RETRY_MS } };
    }
    if (refused) {
      release();
      return { refused };
    }
    return { release };
  }

  /** The checks one `rateLimits` block asks for; `name` is its counters' own space, `clause` how a refusal names it. */
  private checksOf(limits: ToolRateLimits, name: string, clause: string): Check[] {
    const checks: Check[] = [];
    if (limits.calls !== undefined && limits.windowSeconds !== undefined) {
      const window = this.deps.rateLimits.limiter(name, { points: limits.calls, durationSeconds: limits.windowSeconds });
      const refusedClause = `${clause}.calls: ${limits.calls} per ${limits.windowSeconds} s`;
      checks.push(async (userId) => {
        const decision = await window.consume(userId);
        return decision.allowed ? PASSED : { refused: { clause: refusedClause, retryAfterMs: decision.retryAfterMs } };
      });
    }
    const { concurrent } = limits;
    if (concurrent !== undefined) {
      const refusal = { refused: { clause: `${clause}.concurrent: ${concurrent}`, retryAfterMs: CONCURRENCY_RETRY_MS } };
      checks.push(async (userId) => {
        const lease = await this.deps.leases.take(`${name}:${userId}`, concurrent);
        return lease ? { lease } : refusal;
      });
    }
    return checks;
  }
}
