import type { RequestHandler } from 'express';

/**
 * Refuses (403) a state-changing request that does not come from one of our own pages.
 * SameSite=Lax keeps the session cookie off cross-site POSTs, but not off same-site ones
 * (a page on a sibling subdomain), nor in browsers that predate it, so a
 * cookie-authenticated POST must prove its page. Browsers send Origin on every POST
 * (Fetch standard, "append a request `Origin` header"), so a missing Origin is refused too.
 */
export function requireOwnOrigin(publicUrl: string, refusal: string): RequestHandler {
  const publicOrigin = new URL(publicUrl).origin;
  return (req, res, next) => {
    if (req.headers.origin === publicOrigin) return next();
    res.status(403).type('text/plain').send(refusal);
  };
}
