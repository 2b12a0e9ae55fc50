import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import compression from 'compression';
import express, { Router } from 'express';
import type { Request, Response } from 'express';
import { StoreUnavailableError, UnauthenticatedError } from '../errors.js';
import type { Authenticator } from '../identity/authenticate.js';
import { installationRoot } from '../installation.js';
import type { Logger } from '../log.js';
import { sendPage } from './html-page.js';
import { safeReturnTo } from './return-to.js';
import { sendSignInPage } from './sign-in-page.js';
import type { SignInChoice } from './sign-in-page.js';

/** The console's own pages: each is the single-page app, which routes in the browser. */
export const CONSOLE_PATHS = ['/', '/requests', '/review', '/grants', '/audit', '/anomalies', '/anomalies/:id', '/notifications', '/tokens', '/connect'];
/** Where the console sends a browser whose sign-in ended, with `returnTo`. */
export const SIGN_IN_PATH = '/signin';

/** Vite names built files `<name>-<hash>.<ext>`: those never change, anything else may. */
const HASHED_ASSET = /-[A-Za-z0-9_-]{8,}\.(?:js|css|woff2|svg|png)$/;

/**
 * The web console, served by the broker itself on the API's origin (so the session
 * cookie, CSRF and Origin rules of /graphql apply unchanged): its built files under
 * /assets, and its pages to a signed-in browser; a signed-out one gets the sign-in page,
 * which brings it back to the page it asked for.
 */
export function consoleRoutes(deps: { authenticator: Authenticator; identityProviders: readonly SignInChoice[]; logger: Logger; consoleDir?: string }): Router {
  const dir = deps.consoleDir ?? builtConsoleDir();
  let index: Promise<string> | null = null;
  const indexHtml = () => (index ??= readFile(join(dir, 'index.html'), 'utf8').catch((error: unknown) => {
    index = null;
    throw error;
  }));

  const router = Router();
  router.use(
    '/assets',
    compression(),
    express.static(join(dir, 'assets'), {
      index: false,
      redirect: false,
      setHeaders: (res, path) => res.setHeader('Cache-Control', HASHED_ASSET.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache'),
    }),
  );

  router.get(CONSOLE_PATHS, compression(), async (req, res) => {
    const signedIn = await browserSignedIn(deps, req, res);
    if (signedIn === undefined) return;
    if (!signedIn) return sendSignInPage(res, deps.identityProviders, safeReturnTo(req.originalUrl) ?? '/');
    let page: string;
    try {
      page = await indexHtml();
    } catch {
      return sendPage(res, 'Console not built', `<h1>The console is not built</h1><p>Run <code>npm run build</code> (npm install does it), then reload.</p>`, { status: 503 });
    }
    res.setHeader('Cache-Control', 'no-cache');
    res.type('html').send(page);
  });

  router.get(SIGN_IN_PATH, async (req, res) => {
    const returnTo = safeReturnTo(req.query.returnTo) ?? '/';
    const signedIn = await browserSignedIn(deps, req, res);
    if (signedIn === undefined) return;
    if (signedIn) return res.redirect(303, returnTo);
    sendSignInPage(res, deps.identityProviders, returnTo);
  });

  return router;
}

/** Whether the browser's session cookie names a live sign-in; undefined when a refusal page went out. */
async function browserSignedIn(deps: { authenticator: Authenticator; logger: Logger }, req: Request, res: Response): Promise<boolean | undefined> {
  try {
    return (await deps.authenticator.browserPrincipal(req.headers)) !== null;
  } catch (error) {
    // An expired or unknown session is a signed-out browser.
    if (error instanceof UnauthenticatedError) return false;
    if (error instanceof StoreUnavailableError) {
      sendPage(res, 'Unavailable', `<h1>Portcullis is unavailable</h1><p>Its store cannot be reached. Try again shortly.</p>`, { status: 503 });
    } else {
      deps.logger.error({ err: error }, 'console page failed');
      sendPage(res, 'Error', `<h1>Something went wrong</h1><p>The error is in the broker's log. Try again shortly.</p>`, { status: 500 });
    }
    return undefined;
  }
}

/** dist/console of this installation, whether running from source or from dist/. */
function builtConsoleDir(): string {
  const root = installationRoot();
  if (root === null) throw new Error('cannot find the installation root (bin/portcullis.js) above the console routes');
  return join(root, 'dist', 'console');
}
