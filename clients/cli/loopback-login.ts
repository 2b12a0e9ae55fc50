import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brokerUrl, unreachable } from './broker-api.js';
import { CliError } from './cli-error.js';
import { formatDuration } from './durations.js';

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
  /** Shows the sign-in URL to the person (and may open a browser on it). */
  present(url: string): void;
}

/**
 * The CLI's half of the RFC 8252 loopback login: listen on 127.0.0.1 (never a public
 * interface), send the browser to the broker with a random state and a PKCE challenge,
 * take exactly one callback, check its state, and trade its code plus the verifier
 * (which never left this process) for a token.
 */
export async function loopbackLogin(options: LoopbackLoginOptions): Promise<IssuedLogin> {
  const state = randomBytes(24).toString('base64url');
  const verifier = randomBytes(48).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const listener = createServer();
  await new Promise<void>((resolve, reject) => listener.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;

  let used = false;
  try {
    const answer = new Promise<IssuedLogin>((resolve, reject) => {
      listener.on('request', (req: IncomingMessage, res: ServerResponse) => {
        const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
        if (req.method !== 'GET' || url.pathname !== '/callback') return void page(res, 404, 'Not found.');
        if (used) return void page(res, 410, 'This sign-in link was already used.');
        // One use only, whatever it brings: stop listening before anything else happens.
        used = true;
        listener.close();
        const returned = url.searchParams.get('state') ?? '';
        if (!sameString(returned, state)) {
          page(res, 400, 'This sign-in answer does not belong to the login the CLI started. Nothing was saved.');
          return reject(new CliError('LOGIN_STATE_MISMATCH', 'the browser came back with a different state: that answer is not from this login; nothing was saved, run `portcullis login` again'));
        }
        redeem(options, url.searchParams.get('code') ?? '', verifier).then(
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
    const query = new URLSearchParams({ port: String(port), state, code_challenge: challenge, code_challenge_method: 'S256', ...(options.idp ? { idp: options.idp } : {}) });
    options.present(`${brokerUrl(options.broker, 'auth/cli/login')}?${query}`);
    return await withTimeout(answer, options.timeoutMs);
  } finally {
    listener.close();
    listener.closeAllConnections();
  }
}

async function redeem(options: LoopbackLoginOptions, code: string, verifier: string): Promise<IssuedLogin> {
  let response: Response;
  try {
    response = await fetch(brokerUrl(options.broker, 'auth/cli/token'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code, code_verifier: verifier, name: options.tokenName }),
      signal: AbortSignal.timeout(30_000),
    });
  } catch (error) {
    throw unreachable(options.broker, error);
  }
  const body = (await response.json().catch(() => null)) as (Partial<IssuedLogin> & { error?: string; message?: string }) | null;
  if (!response.ok || typeof body?.token !== 'string') {
    throw new CliError(body?.error ?? `HTTP_${response.status}`, body?.message ?? `the broker refused the login (HTTP ${response.status})`);
  }
  return body as IssuedLogin;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CliError('LOGIN_TIMEOUT', `no sign-in came back from the browser within ${formatDuration(ms / 1000)}: run \`portcullis login\` again`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function page(res: ServerResponse, status: number, message: string): void {
  const body = `<!doctype html><meta charset="utf-8"><title>Portcullis</title><p>${escapeHtml(message)}</p>`;
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', 'content-security-policy': "default-src 'none'", connection: 'close' });
  res.end(body);
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
