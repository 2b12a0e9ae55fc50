import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { AssertionSpec } from '../../server/dev-idp/saml-response.js';
import { signIn } from './test-idp.js';
import type { TestIdp } from './test-idp.js';
import { createApiToken } from './test-server.js';

/** What `login --no-browser` prints: the URL to open, then the code the browser will show. */
export const LOGIN_PROMPT = /(http:\/\/127\.0\.0\.1:\d+\/auth\/cli\/login\?\S+)[\s\S]*shows the code ([A-Z2-9]{4}-[A-Z2-9]{4})/;

/** Runs `portcullis` from source as a real subprocess, the way a user would run it. */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'clients/cli/main.ts', ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return finished(spawnCli(args, env));
}

export function finished(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

/** Resolves with the first match of `pattern` in the child's stderr. */
export function waitForStderr(child: ChildProcess, pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`no ${pattern} on stderr within ${timeoutMs} ms; got: ${seen}`)), timeoutMs);
    const onData = (d: Buffer) => {
      seen += d.toString();
      const match = seen.match(pattern);
      if (match) {
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        resolve(match);
      }
    };
    child.stderr?.on('data', onData);
  });
}

/**
 * The environment that makes the CLI act as a person: signed in at the broker (real SAML),
 * with a token of theirs (`api` unless `scopes` say otherwise) and no login file.
 */
export async function cliEnvFor(broker: string, idp: TestIdp, person: Partial<AssertionSpec>, scopes: string[] = ['api']): Promise<NodeJS.ProcessEnv> {
  const token = await createApiToken(broker, await signIn(broker, idp, person), scopes);
  return { PORTCULLIS_TOKEN: token, PORTCULLIS_BROKER: broker, XDG_CONFIG_HOME: '/nonexistent' };
}

/** `args --json`, which must succeed with nothing on stderr: its output, parsed. */
export async function runCliJson<T>(args: string[], env: NodeJS.ProcessEnv): Promise<T> {
  const result = await runCli([...args, '--json'], env);
  if (result.code !== 0 || result.stderr !== '') throw new Error(`portcullis ${args.join(' ')} --json exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
