import { isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';
import type { RequestHandler } from 'express';
import { LimitExceededError, StoreUnavailableError } from '../errors.js';
import type { PortcullisError } from '../errors.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { RateLimiter } from '../stores/types.js';
import { refusalOf, refuseUpgrade, UpgradeRefused } from './upgrade-router.js';
import type { UpgradeHandler } from './upgrade-router.js';
import { unmappedAddress } from './client-address.js';

/**
 * Rate limits per client address: 429 with Retry-After once the client's budget is spent.
 * The address is express's `req.ip`, which follows X-Forwarded-For only through
 * `server.trustedProxies` (for upgrades, which never pass through express, the same
 * address: server/http/client-address.ts). A refusal is logged, never audited: one durable audit
 * write per refused request is exactly the amplification a flood wants. Fails closed: a
 * request the store cannot count is refused with 503, since an uncounted request is an
 * unlimited one.
 */
const MAX_LOGGED_CLIENTS = 10_000;

interface ClientRefusal {
  status: 429 | 503;
  text: string;
  retryAfterSeconds?: number;
}

/** The budget's verdict on one request: null when it may go on. */
function clientBudget(limiter: RateLimiter, logger: Logger, clock: Clock): (address: string | undefined, path: string) => Promise<ClientRefusal | null> {
  // One log line per client per window: a line per refused request would let a flood fill the logs instead.
  const logged = new Map<string, number>();
  const logOnce = (client: string, path: string, retryAfterMs: number) => {
    const now = clock.now();
    if ((logged.get(client) ?? 0) > now) return;
    if (logged.size >= MAX_LOGGED_CLIENTS) logged.clear();
    logged.set(client, now + retryAfterMs);
    logger.warn({ client, path }, 'rate limited (further refusals of this client in this window are not logged)');
  };
  return (address, path) => {
    const client = clientKey(address);
    return limiter.consume(client).then(
      (decision) => {
        if (decision.allowed) return null;
        const seconds = Math.ceil(decision.retryAfterMs / 1000);
        logOnce(client, path, decision.retryAfterMs);
        return { status: 429, text: `Too many requests: try again in ${seconds} s.`, retryAfterSeconds: seconds };
      },
      (error: unknown) => {
        if (!(error instanceof StoreUnavailableError)) throw error;
        return { status: 503, text: 'Service unavailable: try again shortly.' };
      },
    );
  };
}

export function limitPerClient(limiter: RateLimiter, logger: Logger, clock: Clock): RequestHandler {
  const verdict = clientBudget(limiter, logger, clock);
  return (req, res, next) => {
    verdict(req.ip, `${req.baseUrl}${req.path}`).then((refusal) => {
      if (!refusal) return next();
      if (refusal.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(refusal.retryAfterSeconds));
      res.status(refusal.status).type('text/plain').send(refusal.text);
    }, next);
  };
}

/** The same budget in front of a WebSocket upgrade: refused before the handshake, with the same status and words. */
export function limitUpgradesPerClient(limiter: RateLimiter, logger: Logger, clock: Clock, addressOf: (request: IncomingMessage) => string | undefined, handler: UpgradeHandler): UpgradeHandler {
  const verdict = clientBudget(limiter, logger, clock);
  return (request, socket, head) => {
    verdict(addressOf(request), (request.url ?? '/').split('?', 1)[0]!)
      .then((refusal) => (refusal ? refuseUpgrade(socket, new UpgradeRefused(refusal.status, refusal.text, null, refusal.retryAfterSeconds)) : handler(request, socket, head)))
      // Past an await nothing may throw into the void (an unhandled rejection ends the process): any failure refuses this upgrade only.
      .catch((error: unknown) => refuseUpgrade(socket, refusalOf(error)));
  };
}

/**
 * The same budget for each operation a graphql-ws connection carries: its upgrade was
 * counted once, and every query, mutation or subscription sent over it is a request too
 * (else one socket would run unlimited mutations). Null when it may go on; else the error
 * to answer the operation with (LIMIT_EXCEEDED, or STORE_UNAVAILABLE: an uncounted
 * operation is an unlimited one).
 */
export function limitOperationsPerClient(limiter: RateLimiter, logger: Logger, clock: Clock): (address: string | undefined) => Promise<PortcullisError | null> {
  const verdict = clientBudget(limiter, logger, clock);
  return async (address) => {
    const refusal = await verdict(address, '/graphql');
    if (!refusal) return null;
    return refusal.status === 429 ? new LimitExceededError(refusal.text) : new StoreUnavailableError('rate limiting');
  };
}

/**
 * What one client is counted as. IPv4 (also when IPv4-mapped): the address. IPv6: its /64,
 * the block one subscriber is usually given (RFC 6177); counted per address, each such
 * client would hold 2^64 budgets.
 */
export function clientKey(address: string | undefined): string {
  if (address === undefined) return 'unknown';
  const unmapped = unmappedAddress(address);
  if (!isIPv6(unmapped)) return unmapped;
  const [head = '', tail] = address.replace(/%.*$/, '').toLowerCase().split('::');
  const first = head === '' ? [] : head.split(':');
  const last = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? first : [...first, ...Array<string>(Math.max(0, 8 - first.length - last.length)).fill('0'), ...last];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
