import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import { MCP_HTTP_ROUTE, plainMcpPath } from '../../broker/edges/streamable-http.js';
import type { McpHttpTarget } from '../../broker/edges/streamable-http.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { logRequest, measureRequest } from './observability.js';

const ROUTE_LABEL = String(MCP_HTTP_ROUTE);

export interface DirectMcpOptions {
  serve: (req: IncomingMessage, res: ServerResponse, target: McpHttpTarget) => Promise<void>;
  /** The app's security-header middleware: what it sets is set here alike. */
  securityHeaders: RequestHandler;
  addressOf: (req: IncomingMessage) => string | undefined;
  metrics: Metrics;
  logger: Logger;
}

/**
 * The MCP Streamable HTTP endpoints served from node:http directly, below express (issue
 * 22): over Streamable HTTP every relayed call is a request, and express's own work per
 * request (its request and response objects, the router's walk) cost more than twice what a
 * bare node:http relay spends on the whole request (bench/README.md). What the app does for
 * these requests is done here alike: the security headers (recorded once from the app's
 * own middleware), the request metrics under the same route label, the access line, and
 * the client address as `trust proxy` gives it. Only plain paths come this way (`/mcp`,
 * `/mcp/<name>` of unreserved characters, with any query): an escaped, differently cased or
 * slash-ended path goes through express's routing to the same handler. With HTTP tracing on
 * (its spans come from express middleware) nothing does: the caller passes null instead.
 * Returns whether it took the request.
 */
export function directMcpRequests(options: DirectMcpOptions): (req: IncomingMessage, res: ServerResponse) => boolean {
  const headers = recordedHeaders(options.securityHeaders);
  const accessLog = options.logger.isLevelEnabled('info');
  return (req, res) => {
    const path = plainMcpPath(req.url ?? '/');
    if (path === null) return false;
    for (const [name, value] of headers) res.setHeader(name, value);
    measureRequest(options.metrics, req, res, () => ROUTE_LABEL);
    if (accessLog) logRequest(options.logger, req, res);
    void options.serve(req, res, { server: path.server, address: options.addressOf(req), url: req.url! });
    return true;
  };
}

/**
 * The headers a middleware sets on every response, read by running it once on a stand-in:
 * helmet's are fixed by its options. A middleware that needs the request, answers, or does
 * not go on at once cannot be recorded, and fails the start here rather than later.
 */
function recordedHeaders(middleware: RequestHandler): [string, string][] {
  const headers = new Map<string, string>();
  let next = false;
  const response = {
    setHeader: (name: string, value: unknown) => {
      if (typeof value !== 'string') throw new Error(`security header ${name} is not a fixed string`);
      headers.set(name.toLowerCase(), value);
    },
    removeHeader: (name: string) => headers.delete(name.toLowerCase()),
  };
  middleware({} as never, response as never, (error?: unknown) => {
    if (error !== undefined) throw error instanceof Error ? error : new Error(`the security-header middleware failed: ${String(error)}`);
    next = true;
  });
  if (!next) throw new Error('the security-header middleware did not go on to the next handler');
  return [...headers];
}
