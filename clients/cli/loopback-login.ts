import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { html } from '../../server/http/html-page.js';
import { confirmationCode, s256, sameSecret } from '../../server/identity/pkce.js';
import { brokerUrl, fetchBroker } from './broker-api.js';
import { CliError } from './cli-error.js';
import { formatDuration } from '../../server/text/durations.js';

/** What the broker hands back for a completed login (POST /auth/cli/token). */
export interface IssuedLogin {
  token: string;
  tokenId: string;
  expiresAt: string;
  user: { email: string; idp: string };
}

export interface LoopbackLoginOptions {
  broker: string;
  idp?: string;
  timeoutMs: number;
  tokenName: string;
  /**
   * Shows the sign-in URL and the confirmation code to the person, and may open a browser
   * at `link.url`: this listener's one-use address that sends the browser on to `url`. A
   * browser is started with its URL in its command line, which other users of the
   * computer can read (ps); `url` carries the state and PKCE challenge, the link leads to
   * them once. Told `link.notOpened()` when no browser took it.
   */
  present(url: string, confirmation: string, link: OneUseLink): void;
}

export interface OneUseLink {
  url: string;
  /** No browser opened the link: whoever opens it (or did) read it from a command line, and the login ends. */
  notOpened(): void;
}

const LOGIN_PATH = 'auth/cli/login';

/**
 * The CLI's half of the RFC 8252 loopback login: listen on 127.0.0.1 (never a public
 * interface), send the browser to the broker with a random state and a PKCE challenge,
 * and take the one callback that carries that state (anything else gets a 400 and
 * changes nothing); trade its code plus the verifier, which never left this process,
 * for a token.
 */
export async function loopbackLogin(options: LoopbackLoginOptions): Promise<IssuedLogin> {
  const state = randomBytes(24).toString('base64url');
  const linkPath = `/start/${randomBytes(24).toString('base64url')}`;
  /** Whether the link led someone to the broker, and whether it still may (no browser took it: it is burnt). */
  let linkOpened = false;
  let linkBurnt = false;
  const verifier = randomBytes(48).toString('base64url');
  const challenge = s256(verifier);
  const listener = createServer();
  await new Promise<void>((resolve, reject) => listener.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;
  const giveUp = new AbortController();

  try {
    const query = new URLSearchParams({ port: String(port), state, code_challenge: challenge, code_challenge_method: 'S256', ...(options.idp ? { idp: options.idp } : {}) });
    await preflight(options.broker, query);
    const loginUrl = `${brokerUrl(options.broker, LOGIN_PATH)}?${query}`;
    let abort: (why: string) => void = () => {};
    const answer = new Promise<IssuedLogin>((resolve, reject) => {
      // Another program read the link (and has the state it led to): this login is no longer the person's alone.
      abort = (why) => {
        listener.close();
        listener.removeAllListeners('request');
        reject(new CliError('LOGIN_ABORTED', `${why} (another program on this computer may have read it); nothing was saved: run \`portcullis login\` again (with --no-browser, to open the printed URL yourself)`));
      };
      listener.on('request', (req: IncomingMessage, res: ServerResponse) => {
        const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
        if (req.method === 'GET' && url.pathname === linkPath) {
          if (!linkOpened && !linkBurnt) {
            linkOpened = true;
            res.writeHead(302, { location: loginUrl, 'cache-control': 'no-store', connection: 'close' });
            return void res.end();
          }
          page(res, 400, 'This sign-in link was opened twice, or after the browser failed to open it, so the CLI stopped waiting: nothing was saved. Run portcullis login again.');
          return abort(linkBurnt ? 'the sign-in link was opened though no browser took it' : 'the sign-in link was opened twice');
        }
        if (req.method !== 'GET' || url.pathname !== '/callback') return void page(res, 404, 'Not found.');
        if (!sameSecret(url.searchParams.get('state') ?? '', state)) return void page(res, 400, 'This answer does not belong to the login the CLI is waiting for; it was ignored.');
        // The one answer this listener takes: it stops listening before anything else.
        listener.close();
        listener.removeAllListeners('request');
        if (url.searchParams.has('error')) {
          page(res, 200, 'Sign-in cancelled. Nothing was saved; you can close this tab.');
          return reject(new CliError('LOGIN_CANCELLED', 'the sign-in was cancelled in the browser; nothing was saved'));
        }
        redeem(options, url.searchParams.get('code') ?? '', verifier, giveUp.signal).then(
          (login) => {
            page(res, 200, `Signed in to Portcullis as ${login.user.email}. You can close this tab and return to the terminal.`);
            resolve(login);
          },
          (error: unknown) => {
            page(res, 400, `The CLI could not finish signing in: ${(error as Error).message}`);
            reject(error as Error);
          },
        );
      });
    });
    const notOpened = () => (linkOpened ? abort('the sign-in link was opened though no browser took it') : (linkBurnt = true));
    options.present(loginUrl, confirmationCode(challenge), { url: `http://127.0.0.1:${port}${linkPath}`, notOpened });
    return await withTimeout(answer, options.timeoutMs, giveUp);
  } finally {
    listener.close();
    listener.closeAllConnections();
  }
}

/** Asks the broker first, so a refusal (unknown IdP, several IdPs, bad URL) is one clear line, not a wait. */
async function preflight(broker: string, loginQuery: URLSearchParams): Promise<void> {
  const response = await fetchBroker(broker, `${LOGIN_PATH}?${loginQuery}`, { redirect: 'manual' });
  if (response.status >= 300 && response.status < 400) return;
  const text = (await response.text().catch(() => '')).slice(0, 300);
  throw new CliError('LOGIN_REFUSED', response.status === 404 ? `${broker} does not offer a CLI login (HTTP 404): is it a Portcullis broker?` : text || `the broker refused the login (HTTP ${response.status})`);
}

async function redeem(options: LoopbackLoginOptions, code: string, verifier: string, signal: AbortSignal): Promise<IssuedLogin> {
  const response = await fetchBroker(options.broker, 'auth/cli/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code, code_verifier: verifier, name: options.tokenName }),
    signal,
  });
  const body = (await response.json().catch(() => null)) as (Partial<IssuedLogin> & { error?: string; message?: string }) | null;
  if (!response.ok || typeof body?.token !== 'string') {
    throw new CliError(body?.error ?? `HTTP_${response.status}`, body?.message ?? `the broker refused the login (HTTP ${response.status})`);
  }
  return body as IssuedLogin;
}

function withTimeout<T>(promise: Promise<T>, ms: number, giveUp: AbortController): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      giveUp.abort();
      reject(new CliError('LOGIN_TIMEOUT', `no sign-in came back from the browser within ${formatDuration(ms / 1000)}: run \`portcullis login\` again`));
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function page(res: ServerResponse, status: number, message: string): void {
  const body = `<!doctype html><meta charset="utf-8"><title>Portcullis</title><p>${html(message)}</p>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'", connection: 'close' });
  res.end(body);
}
