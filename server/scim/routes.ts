import express, { Router } from 'express';
import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../log.js';
import { ScimError } from './scim-error.js';
import type { ScimClients } from './scim-clients.js';
import { listResponse, pageOf, renderGroup, renderUser, SCHEMA } from './scim-resources.js';
import type { ScimService } from './scim-service.js';
import { RESOURCE_TYPES, SCHEMAS, serviceProviderConfig } from './discovery.js';

export const SCIM_BASE = '/scim/v2';
const SCIM_JSON = 'application/scim+json';
/** A group with thousands of members is the largest body an IdP sends. */
const BODY_LIMIT = '1mb';

type Handler = (req: Request, idp: string) => Promise<{ status?: number; body?: unknown; location?: string }>;

/**
 * SCIM 2.0 (RFC 7644) for the IdPs that provision over it: their bearer token names the
 * IdP, and every request sees and changes that IdP's users and groups only. Replies and
 * errors are `application/scim+json`, errors in the SCIM error schema (§3.12).
 */
export function scimRoutes(deps: { service: ScimService; clients: ScimClients; rateLimit: RequestHandler; publicUrl: string; logger: Logger }): Router {
  const router = Router();
  const base = `${deps.publicUrl.replace(/\/+$/, '')}${SCIM_BASE}`;
  const { service } = deps;
  const idpOf = new WeakMap<Request, string>();

  const route = (handler: Handler): RequestHandler => (req, res, next) => {
    handler(req, idpOf.get(req)!).then(({ status = 200, body, location }) => {
      if (location) res.setHeader('Location', location);
      if (body === undefined) res.status(status).end();
      else res.status(status).type(SCIM_JSON).send(JSON.stringify(body));
    }, next);
  };
  const members = (req: Request) => !/(^|,)\s*members\s*(,|$)/i.test(String(req.query.excludedAttributes ?? ''));
  const id = (req: Request) => String(req.params.id);

  router.use(SCIM_BASE, deps.rateLimit, (req, _res, next) => {
    const idp = deps.clients.idpOf(req.headers.authorization);
    if (idp === null) return next(new ScimError(401, null, 'a SCIM bearer token of a configured IdP is required'));
    idpOf.set(req, idp);
    next();
  });
  router.use(SCIM_BASE, express.json({ type: [SCIM_JSON, 'application/json'], limit: BODY_LIMIT }), (req, _res, next) => {
    // A write with a body of another type (or none) would reach the handlers as undefined.
    if (['POST', 'PUT', 'PATCH'].includes(req.method) && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) {
      return next(new ScimError(400, 'invalidSyntax', `the body must be a JSON object sent as ${SCIM_JSON}`));
    }
    next();
  });

  router.get(`${SCIM_BASE}/ServiceProviderConfig`, route(async () => ({ body: serviceProviderConfig(base) })));
  router.get(`${SCIM_BASE}/ResourceTypes`, route(async () => ({ body: listResponse(RESOURCE_TYPES, RESOURCE_TYPES.length, 1) })));
  router.get(`${SCIM_BASE}/Schemas`, route(async () => ({ body: listResponse(SCHEMAS, SCHEMAS.length, 1) })));

  router.get(
    `${SCIM_BASE}/Users`,
    route(async (req, idp) => {
      const page = pageOf(req.query);
      const { total, users } = await service.listUsers(idp, req.query.filter, page);
      return { body: listResponse(users.map((u) => renderUser(u, base)), total, page.startIndex) };
    }),
  );
  router.post(
    `${SCIM_BASE}/Users`,
    route(async (req, idp) => {
      const user = await service.createUser(idp, req.body, req.ip);
      return { status: 201, body: renderUser(user, base), location: `${base}/Users/${user.id}` };
    }),
  );
  router.get(`${SCIM_BASE}/Users/:id`, route(async (req, idp) => ({ body: renderUser(await service.getUser(idp, id(req)), base) })));
  router.put(`${SCIM_BASE}/Users/:id`, route(async (req, idp) => ({ body: renderUser(await service.replaceUser(idp, id(req), req.body, req.ip), base) })));
  router.patch(`${SCIM_BASE}/Users/:id`, route(async (req, idp) => ({ body: renderUser(await service.patchUser(idp, id(req), req.body, req.ip), base) })));
  router.delete(
    `${SCIM_BASE}/Users/:id`,
    route(async (req, idp) => {
      await service.deleteUser(idp, id(req), req.ip);
      return { status: 204 };
    }),
  );

  router.get(
    `${SCIM_BASE}/Groups`,
    route(async (req, idp) => {
      const page = pageOf(req.query);
      const { total, groups } = await service.listGroups(idp, req.query.filter, page);
      return { body: listResponse(groups.map((g) => renderGroup(g, base, members(req))), total, page.startIndex) };
    }),
  );
  router.post(
    `${SCIM_BASE}/Groups`,
    route(async (req, idp) => {
      const group = await service.createGroup(idp, req.body, req.ip);
      return { status: 201, body: renderGroup(group, base, true), location: `${base}/Groups/${group.id}` };
    }),
  );
  router.get(`${SCIM_BASE}/Groups/:id`, route(async (req, idp) => ({ body: renderGroup(await service.getGroup(idp, id(req)), base, members(req)) })));
  router.put(`${SCIM_BASE}/Groups/:id`, route(async (req, idp) => ({ body: renderGroup(await service.replaceGroup(idp, id(req), req.body, req.ip), base, true) })));
  router.patch(`${SCIM_BASE}/Groups/:id`, route(async (req, idp) => ({ body: renderGroup(await service.patchGroup(idp, id(req), req.body, req.ip), base, true) })));
  router.delete(
    `${SCIM_BASE}/Groups/:id`,
    route(async (req, idp) => {
      await service.deleteGroup(idp, id(req), req.ip);
      return { status: 204 };
    }),
  );

  router.use(SCIM_BASE, (_req, _res, next) => next(new ScimError(404, null, 'no such SCIM endpoint')));
  router.use(SCIM_BASE, scimErrors(deps.logger));
  return router;
}

/** Every refusal in the SCIM error schema; body-parser's own (bad JSON, too large) mapped to theirs. */
function scimErrors(logger: Logger): ErrorRequestHandler {
  return (error: unknown, _req, res: Response, _next) => {
    const scim = error instanceof ScimError ? error : fromBodyParser(error);
    if (!scim) logger.error({ err: error }, 'SCIM request failed');
    const { status, scimType, message } = scim ?? new ScimError(500, null, 'internal error');
    const body = { schemas: [SCHEMA.error], status: String(status), ...(scimType ? { scimType } : {}), detail: message };
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="scim"');
    res.status(status).type(SCIM_JSON).send(JSON.stringify(body));
  };
}

function fromBodyParser(error: unknown): ScimError | null {
  const type = (error as { type?: unknown } | null)?.type;
  if (type === 'entity.parse.failed') return new ScimError(400, 'invalidSyntax', 'the body is not valid JSON');
  if (type === 'entity.too.large') return new ScimError(413, null, 'the body is too large');
  if (typeof type === 'string') return new ScimError(400, 'invalidSyntax', 'the body could not be read');
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'STORE_UNAVAILABLE') return new ScimError(503, null, 'the store is unavailable: try again shortly');
  if (code === 'STORE_FULL') return new ScimError(400, 'tooMany', 'this IdP holds as many SCIM resources as accepted');
  return null;
}
