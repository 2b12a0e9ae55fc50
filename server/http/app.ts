import { expressMiddleware } from '@as-integrations/express5';
import type { ApolloServer } from '@apollo/server';
import express from 'express';
import type { ErrorRequestHandler, RequestHandler } from 'express';
import helmet from 'helmet';
import { operationContext } from '../../schema/context.js';
import type { GraphQLContext, GraphQLServices } from '../../schema/context.js';
import { toGraphQLError } from '../../schema/errors.js';
import { illFormedInputError } from '../../schema/well-formed-input.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { tracedRoutes } from '../tracing/http-spans.js';
import type { Tracer } from '@opentelemetry/api';
import type { RateLimiter, Stores } from '../stores/types.js';
import { trustProxy } from './client-address.js';
import { CONSOLE_PATHS, SIGN_IN_PATH } from './console-routes.js';
import { healthRoutes } from './health.js';
import { requestObservability } from './observability.js';
import { limitPerClient } from './rate-limit.js';

/** Largest JSON body accepted on /graphql; the token limit rejects far smaller queries anyway. */
const GRAPHQL_BODY_LIMIT = '256kb';

/**
 * Where anyone may send requests without a credential, each of which costs us work (a
 * SAML request id stored, a response parsed and verified, an audit event written): all of
 * them share one budget per client address (`rateLimits.unauthenticated`), counted before
 * any body is read.
 */
const UNAUTHENTICATED_PATHS = ['/auth/saml', '/auth/oidc', '/auth/cli', '/dev-idp', '/oauth', '/.well-known', '/integrations/slack'];

/** The HTTP surface, composed in order; each concern lives in its own module. */
export function createApp(options: {
  apollo: ApolloServer<GraphQLContext>;
  services: GraphQLServices;
  /** Feature routers (SAML, development IdP), mounted before GraphQL. */
  routers: express.Router[];
  stores: Stores;
  /** The per-address budget of /graphql (`rateLimits.graphql`), shared with graphql-ws upgrades. */
  graphqlLimiter: RateLimiter;
  metrics: Metrics;
  /** Traces requests (server/tracing/http-spans.ts); null when tracing is off. */
  tracer: Tracer | null;
  logger: Logger;
  isShuttingDown: () => boolean;
}): express.Express {
  const { config } = options.services;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', trustProxy(config.server.trustedProxies));
  app.use(securityHeaders(config.server.publicUrl));
  // First: the access log line and everything after it run in the request's trace.
  if (options.tracer) app.use(tracedRoutes(options.tracer));
  app.use(...requestObservability(options.logger, options.metrics));
  app.use(healthRoutes(options));
  const unauthenticated = limitPerClient(options.stores.rateLimits.limiter('unauthenticated', config.rateLimits.unauthenticated), options.logger, options.services.clock);
  app.use(UNAUTHENTICATED_PATHS, unauthenticated);
  // The console's pages cost a session lookup each (exact paths: '/' as a prefix would be everything).
  app.get([...CONSOLE_PATHS, SIGN_IN_PATH], unauthenticated);
  for (const router of options.routers) app.use(router);
  const { authenticator } = options.services.identity;
  app.use(
    '/graphql',
    // Counted before the body is read or a credential checked: guessing tokens and flooding token creation cost alike.
    limitPerClient(options.graphqlLimiter, options.logger, options.services.clock),
    express.json({ limit: GRAPHQL_BODY_LIMIT }),
    (req, res, next) => {
      const refused = illFormedInputError(req.method === 'GET' ? graphqlGetPayload(req.query) : req.body);
      if (refused) res.status(400).json({ errors: [refused.toJSON()] });
      else next();
    },
    expressMiddleware(options.apollo, {
      context: async ({ req }) => {
        try {
          return operationContext(options.services, await authenticator.resolve(authenticator.presented(req.headers), req.ip));
        } catch (error) {
          throw toGraphQLError(error);
        }
      },
    }),
  );
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  app.use(errorHandler(options.logger));
  return app;
}

/**
 * The security headers of every response (helmet). The referrer policy is same-origin,
 * not helmet's no-referrer: under that browsers send `Origin: null` on every same-origin
 * form post and fetch POST (Fetch standard, "append a request `Origin` header"), which
 * requireOwnOrigin must refuse, so no consent page could ever be answered. same-origin
 * still sends no referrer to any other site.
 */
export function securityHeaders(publicUrl: string): RequestHandler {
  return helmet({
    contentSecurityPolicy: { useDefaults: false, directives: consoleSecurityPolicy(publicUrl) },
    referrerPolicy: { policy: 'same-origin' },
  });
}

/**
 * The console's policy, and every other response's: scripts, styles and connections from
 * our own origin only (the graphql-ws socket named explicitly, as older browsers do not
 * count ws: as 'self'), nothing inline, never framed. Server-rendered pages set a stricter
 * one of their own (html-page.ts).
 */
function consoleSecurityPolicy(publicUrl: string): Record<string, string[]> {
  const origin = new URL(publicUrl);
  const socketOrigin = `${origin.protocol === 'https:' ? 'wss:' : 'ws:'}//${origin.host}`;
  return {
    'default-src': ["'self'"],
    'script-src': ["'self'"],
    'style-src': ["'self'"],
    'img-src': ["'self'", 'data:'],
    'font-src': ["'self'"],
    'connect-src': ["'self'", socketOrigin],
    'object-src': ["'none'"],
    'base-uri': ["'none'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
    ...(origin.protocol === 'https:' ? { 'upgrade-insecure-requests': [] } : {}),
  };
}

/** A GET request's operation as Apollo will read it: variables and extensions are JSON inside the query string. */
function graphqlGetPayload(query: Record<string, unknown>): unknown {
  const json = (value: unknown) => {
    try {
      return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
    } catch {
      return value;
    }
  };
  return { ...query, variables: json(query.variables), extensions: json(query.extensions) };
}

/** Body-parser errors keep their 4xx status; anything else is a bare 500 (details only in the log). */
function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: { status?: number; type?: string }, _req, res, _next) => {
    const status = typeof error.status === 'number' && error.status >= 400 && error.status < 500 ? error.status : 500;
    if (status === 500) logger.error({ err: error }, 'unhandled HTTP error');
    res.status(status).json({ error: status === 500 ? 'internal error' : (error.type ?? 'bad request') });
  };
}
