import { RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { RateLimit, RateLimitDecision, RateLimiter, RateLimitStore } from './types.js';

/** What a backend gets to build one of rate-limiter-flexible's limiters. */
interface LimiterSpec {
  /** The limiter's name: its counters live under it. */
  name: string;
  points: number;
  duration: number;
}

/**
 * The rate-limit seam on rate-limiter-flexible. A backend supplies how to build the
 * library's limiter (in memory, in Redis) and how a store failure surfaces; the library's
 * "over the limit" rejection (a RateLimiterRes, not an Error) becomes a decision here, so
 * it is never mistaken for an outage.
 */
export class FlexibleRateLimits implements RateLimitStore {
  constructor(
    private readonly build: (spec: LimiterSpec) => RateLimiterAbstract,
    private readonly run: (work: () => Promise<RateLimitDecision>) => Promise<RateLimitDecision> = (work) => work(),
  ) {}

  limiter(name: string, limit: RateLimit): RateLimiter {
    const library = this.build({ name, points: limit.points, duration: limit.durationSeconds });
    return {
      consume: (key, points = 1) =>
        this.run(() =>
          library.consume(key, points).then(
            (): RateLimitDecision => ({ allowed: true }),
            (rejection: unknown): RateLimitDecision => {
              if (rejection instanceof RateLimiterRes) return { allowed: false, retryAfterMs: Math.max(1, rejection.msBeforeNext) };
              throw rejection;
            },
          ),
        ),
    };
  }
}
