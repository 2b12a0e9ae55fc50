import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomically } from './atomic-write.js';
import type { BrokerCredentials } from './broker-api.js';
import { CliError } from './cli-error.js';

/** What `portcullis login` keeps: never the only copy of anything, and only for this user. */
export interface StoredCredentials {
  broker: string;
  token: string;
  tokenId: string;
  email: string;
  expiresAt: string;
}

/** `$XDG_CONFIG_HOME/portcullis/credentials.json` (default `~/.config/...`). */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || (process.platform === 'win32' ? (env.APPDATA ?? homedir()) : join(homedir(), '.config'));
  return join(base, 'portcullis', 'credentials.json');
}

/** The stored login, or null when there is none. A file others can read is refused, as ssh refuses such keys. */
export function readStoredCredentials(env: NodeJS.ProcessEnv = process.env): StoredCredentials | null {
  const login = readStoredLogin(env);
  if (login && login.mode & 0o077) {
    const path = credentialsPath(env);
    throw new CliError('INSECURE_CREDENTIALS', `${path} is readable by other users (mode ${login.mode.toString(8)}): run \`chmod 600 ${path}\`, or delete it and log in again`);
  }
  return login?.stored ?? null;
}

/**
 * The stored login whatever its mode (a login replacing it reads it to revoke its token),
 * and whether it is this user's alone: owned by them, and no one else may read or write it.
 * Both from one open file, so it cannot be swapped between the reading and the judging.
 */
export function readStoredLogin(env: NodeJS.ProcessEnv = process.env): { stored: StoredCredentials; mode: number; private: boolean } | null {
  const path = credentialsPath(env);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  let text: string;
  let stat: Stats;
  try {
    stat = fstatSync(fd);
    text = readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
  let stored: Partial<StoredCredentials> | null = null;
  try {
    stored = JSON.parse(text) as Partial<StoredCredentials>;
  } catch {
    // Reported below, with the path: a parser's message would not say which file.
  }
  if (typeof stored?.broker !== 'string' || typeof stored.token !== 'string') throw new CliError('INVALID_CREDENTIALS', `${path} is not a Portcullis login: delete it and log in again`);
  if (process.platform === 'win32') return { stored: stored as StoredCredentials, mode: 0, private: true };
  const mode = stat.mode & 0o777;
  return { stored: stored as StoredCredentials, mode, private: stat.uid === process.getuid?.() && (mode & 0o077) === 0 };
}

/** Written to a fresh 0600 file and renamed over the old one: never half-written, never readable by others. */
export function saveCredentials(credentials: StoredCredentials, env: NodeJS.ProcessEnv = process.env): string {
  const path = credentialsPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomically(path, `${JSON.stringify(credentials, null, 2)}\n`, 0o600);
  return path;
}

export function deleteCredentials(env: NodeJS.ProcessEnv = process.env): void {
  rmSync(credentialsPath(env), { force: true });
}

/**
 * The broker and token a command uses. PORTCULLIS_TOKEN goes with `--broker` or
 * PORTCULLIS_BROKER; the stored login's token goes only to the broker it came from (a
 * token is never sent to a broker it was not issued by). Never a token flag: arguments
 * are visible to every local user in the process list.
 */
export function resolveCredentials(options: { broker?: string }, env: NodeJS.ProcessEnv = process.env): BrokerCredentials {
  const named = options.broker || env.PORTCULLIS_BROKER || undefined;
  const envToken = env.PORTCULLIS_TOKEN || undefined;
  if (envToken) {
    if (!named) throw new CliError('NO_BROKER', 'which broker is PORTCULLIS_TOKEN for? give --broker URL or set PORTCULLIS_BROKER');
    return { broker: checkBrokerUrl(named), token: envToken };
  }
  const stored = readStoredCredentials(env);
  if (!stored) throw new CliError('NOT_SIGNED_IN', 'not signed in: run `portcullis login --broker URL` (or set PORTCULLIS_TOKEN)');
  const broker = named ? checkBrokerUrl(named) : stored.broker;
  if (broker !== stored.broker) throw new CliError('NOT_SIGNED_IN', `not signed in to ${broker} (your login is for ${stored.broker}): run \`portcullis login --broker ${broker}\``);
  return { broker, token: stored.token };
}

/**
 * An http(s) base URL with no credentials or query in it; plain http only to this
 * computer (a token must not cross a network in clear text).
 */
export function checkBrokerUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliError('INVALID_ARGUMENT', `"${value}" is not a broker URL (expected https://host[:port])`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search || url.hash) {
    throw new CliError('INVALID_ARGUMENT', `"${value}" is not a broker URL (expected https://host[:port], no credentials or query)`);
  }
  if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
    throw new CliError('INSECURE_BROKER_URL', `refusing plain http to ${url.host}: tokens would cross the network unencrypted; use https (http is allowed only to localhost)`);
  }
  return url.toString().replace(/\/$/, '');
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
