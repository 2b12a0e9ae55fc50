import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { pinoHttp } from 'pino-http';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';

const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const KNOWN_PATHS = new Set([...QUIET_PATHS, '/graphql']);

/**
 * One access-log line and the request metrics per HTTP request. Only method, path (never
 * the query string) and status are recorded: headers and bodies carry credentials.
 */
export function requestObservability(logger: Logger, metrics: Metrics): RequestHandler[] {
  const measure = measured(metrics);
  // The access line is written at info: above it, pino-http would still make a child logger
  // and serialise each request for nothing (a Streamable HTTP call is one request).
  if (!logger.isLevelEnabled('info')) return [measure];
  const log = pinoHttp({
    logger,
    autoLogging: { ignore: (req) => QUIET_PATHS.has(pathOf(req.url)) },
    serializers: {
      req: (req: { method: string; url: string; remoteAddress?: string }) => ({ method: req.method, path: pathOf(req.url), remoteAddress: req.remoteAddress }),
      res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
    },
  });
  return [log, measure];
}

/** The request metrics, by route pattern. */
function measured(metrics: Metrics): RequestHandler {
  return (req, res, next) => {
    measureRequest(metrics, req, res, () => {
      // Route patterns, not raw paths, so label cardinality stays bounded.
      const path = pathOf(req.originalUrl);
      return req.route?.path ? `${req.baseUrl}${String(req.route.path)}` : KNOWN_PATHS.has(path) ? path : 'unmatched';
    });
    next();
  };
}

/** Counts and times a request under the route pattern `routeOf` names once it is answered. */
export function measureRequest(metrics: Metrics, req: IncomingMessage, res: ServerResponse, routeOf: () => string): void {
  const stop = metrics.httpDuration.startTimer();
  res.on('finish', () => {
    const route = routeOf();
    metrics.httpRequests.inc({ method: req.method, route, status: String(res.statusCode) });
    stop({ method: req.method, route });
  });
}

/**
 * The access line pino-http writes (requestObservability), for a request served below
 * express: method, path and the client's socket address, status and time taken, once,
 * when the response finishes, closes first (a client that went away: "request aborted") or
 * fails; a 5xx answer as "request errored" with the error pino-http gives it. Info level, as there.
 */
export function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  const started = Date.now();
  // Read now: a request destroyed before it ends (a body refused mid-stream) has no socket by then.
  const { remoteAddress } = req.socket;
  const done = (err?: Error) => {
    res.off('finish', done);
    res.off('close', done);
    res.off('error', done);
    const line = { req: { method: req.method, path: pathOf(req.url), remoteAddress }, res: { statusCode: res.statusCode }, responseTime: Date.now() - started };
    if (err instanceof Error || res.statusCode >= 500) logger.info({ ...line, err: err instanceof Error ? err : new Error(`failed with status code ${res.statusCode}`) }, 'request errored');
    else logger.info(line, !req.readableAborted && res.writableEnded ? 'request completed' : 'request aborted');
  };
  res.on('finish', done);
  res.on('close', done);
  res.on('error', done);
}

function pathOf(url: string | undefined): string {
  const path = url ?? '/';
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}
