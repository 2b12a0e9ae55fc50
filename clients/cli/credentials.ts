import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where `portcullis login` keeps the broker URL and token (0600). */
export function credentialsPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME ?? (process.platform === 'win32' ? (env.APPDATA ?? homedir()) : join(homedir(), '.config'));
  return join(base, 'portcullis', 'credentials.json');
}

export interface StoredCredentials {
  broker: string;
  token: string;
}

/**
 * The token to present: PORTCULLIS_TOKEN wins, else the login file. Never a command-line
 * flag: arguments are visible to every local user in the process list.
 */
export function resolveToken(env: NodeJS.ProcessEnv = process.env): { token: string; broker?: string } | null {
  if (env.PORTCULLIS_TOKEN) return { token: env.PORTCULLIS_TOKEN };
  try {
    const stored = JSON.parse(readFileSync(credentialsPath(env), 'utf8')) as Partial<StoredCredentials>;
    return typeof stored.token === 'string' ? { token: stored.token, broker: stored.broker } : null;
  } catch {
    return null;
  }
}
