import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
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
  const base = env.XDG_CONFIG_HOME ?? (process.platform === 'win32' ? (env.APPDATA ?? homedir()) : join(homedir(), '.config'));
  return join(base, 'portcullis', 'credentials.json');
}

/** The stored login, or null when there is none. A file others can read is refused, as ssh refuses such keys. */
export function readStoredCredentials(env: NodeJS.ProcessEnv = process.env): StoredCredentials | null {
  const path = credentialsPath(env);
  let text: string;
  try {
    if (process.platform !== 'win32') {
      const mode = statSync(path).mode & 0o777;
      if (mode & 0o077) throw new CliError('INSECURE_CREDENTIALS', `${path} is readable by other users (mode ${mode.toString(8)}): run \`chmod 600 ${path}\`, or delete it and log in again`);
    }
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const stored = JSON.parse(text) as Partial<StoredCredentials>;
  if (typeof stored.broker !== 'string' || typeof stored.token !== 'string') throw new CliError('INVALID_CREDENTIALS', `${path} is not a Portcullis login: run \`portcullis login\` again`);
  return stored as StoredCredentials;
}

/** Written to a 0600 temporary file and renamed over the old one: never half-written, never readable by others. */
export function saveCredentials(credentials: StoredCredentials, env: NodeJS.ProcessEnv = process.env): string {
  const path = credentialsPath(env);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
  return path;
}

export function deleteCredentials(env: NodeJS.ProcessEnv = process.env): void {
  rmSync(credentialsPath(env), { force: true });
}

/**
 * The broker and token a command uses: `--broker`, else PORTCULLIS_BROKER, else the
 * login's; PORTCULLIS_TOKEN, else the login's. Never a token flag: arguments are visible
 * to every local user in the process list.
 */
export function resolveCredentials(options: { broker?: string }, env: NodeJS.ProcessEnv = process.env): BrokerCredentials {
  const stored = env.PORTCULLIS_TOKEN ? null : readStoredCredentials(env);
  const token = env.PORTCULLIS_TOKEN ?? stored?.token;
  const broker = options.broker ?? env.PORTCULLIS_BROKER ?? stored?.broker;
  if (!token) throw new CliError('NOT_SIGNED_IN', 'not signed in: run `portcullis login --broker URL` (or set PORTCULLIS_TOKEN)');
  if (!broker) throw new CliError('NO_BROKER', 'which broker? give --broker URL or set PORTCULLIS_BROKER');
  return { broker: checkBrokerUrl(broker), token };
}

/** An http(s) base URL with no credentials or query in it. */
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
  return url.toString().replace(/\/$/, '');
}
