import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Attributes, Context, Tracer } from '@opentelemetry/api';
import { Router } from 'express';
import type { NextFunction, Request, Response } from 'express';
import { remoteContext } from './spans.js';

/**
 * The HTTP side of tracing, mounted first (only when tracing is on): a client's W3C
 * `traceparent` is adopted on the MCP Streamable HTTP and GraphQL paths (the spans of its
 * calls join the client's trace), and a server span covers each GraphQL request and each
 * sign-in return (SAML ACS, OIDC callback). Nothing of the request's content goes on a
 * span: no variables, no assertion, no query string.
 */
export function tracedRoutes(tracer: Tracer): Router {
  const router = Router();
  router.use('/mcp', (req, res, next) => runIn(remoteContext(req.headers), req, res, next));
  router.use('/graphql', (req, res, next) => serverSpan(tracer, 'graphql', {}, req, res, next, { parent: remoteContext(req.headers) }));
  router.post('/auth/saml/:idp/acs', (req, res, next) => serverSpan(tracer, 'saml.acs', { 'portcullis.idp': String(req.params.idp) }, req, res, next, { outcome: signedInOutcome }));
  router.get('/auth/oidc/:idp/callback', (req, res, next) => serverSpan(tracer, 'oidc.callback', { 'portcullis.idp': String(req.params.idp) }, req, res, next, { outcome: signedInOutcome }));
  return router;
}

/**
 * Sign-in routes answer a success with a redirect to where the person was going and a
 * refusal with a page of 4xx (saml/refusal-page.ts, oidc/routes.ts).
 */
function signedInOutcome(res: Response): Attributes {
  return { 'portcullis.sign_in.outcome': res.statusCode < 400 ? 'success' : 'refused' };
}

/** The rest of the request runs in `active`: the body's stream events too, which fire outside the request's own continuation. */
function runIn(active: Context, req: Request, res: Response, next: NextFunction): void {
  context.bind(active, req);
  context.bind(active, res);
  context.with(active, next);
}

interface SpanOptions {
  /** The span's parent (the active context without one). */
  parent?: Context;
  /** Attributes read off the response once it was sent. */
  outcome?: (res: Response) => Attributes;
}

function serverSpan(tracer: Tracer, name: string, attributes: Attributes, req: Request, res: Response, next: NextFunction, options: SpanOptions): void {
  const parent = options.parent ?? context.active();
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: { ...attributes, 'http.request.method': req.method } }, parent);
  res.once('close', () => {
    span.setAttribute('http.response.status_code', res.statusCode);
    if (options.outcome) span.setAttributes(options.outcome(res));
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  runIn(trace.setSpan(parent, span), req, res, next);
}
