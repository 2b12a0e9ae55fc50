import { isIPv6 } from 'node:net';
import type { RequestHandler } from 'express';
import { StoreUnavailableError } from '../errors.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RateLimiter } from '../stores/types.js';

/**
 * Rate limits a route per client address: 429 with Retry-After once the client's budget
 * is spent. The address is express's `req.ip`, which follows X-Forwarded-For only through
 * `server.trustedProxies`. A refusal is logged, never audited: one durable audit write per
 * refused request is exactly the amplification a flood wants. Fails closed: a request the
 * store cannot count is refused with 503, since an uncounted request is an unlimited one.
 */
const MAX_LOGGED_CLIENTS = 10_000;

export function limitPerClient(limiter: RateLimiter, logger: Logger, clock: Clock): RequestHandler {
  // One log line per client per window: a line per refused request would let a flood fill the logs instead.
  const logged = new Map<string, number>();
  const logOnce = (client: string, path: string, retryAfterMs: number) => {
    const now = clock.now();
    if ((logged.get(client) ?? 0) > now) return;
    if (logged.size >= MAX_LOGGED_CLIENTS) logged.clear();
    logged.set(client, now + retryAfterMs);
    logger.warn({ client, path }, 'rate limited (further refusals of this client in this window are not logged)');
  };
  return (req, res, next) => {
    const client = clientKey(req.ip);
    limiter.consume(client).then(
      (decision) => {
        if (decision.allowed) return next();
        const seconds = Math.ceil(decision.retryAfterMs / 1000);
        logOnce(client, `${req.baseUrl}${req.path}`, decision.retryAfterMs);
        res.status(429).setHeader('Retry-After', String(seconds)).type('text/plain').send(`Too many requests: try again in ${seconds} s.`);
      },
      (error: unknown) => {
        if (!(error instanceof StoreUnavailableError)) return next(error);
        res.status(503).type('text/plain').send('Service unavailable: try again shortly.');
      },
    );
  };
}

/**
 * What one client is counted as. IPv4 (also when IPv4-mapped): the address. IPv6: its /64,
 * the block one subscriber is usually given (RFC 6177); counted per address, each such
 * client would hold 2^64 budgets.
 */
export function clientKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  const [head = '', tail] = address.replace(/%.*$/, '').toLowerCase().split('::');
  const first = head === '' ? [] : head.split(':');
  const last = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? first : [...first, ...Array<string>(Math.max(0, 8 - first.length - last.length)).fill('0'), ...last];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
