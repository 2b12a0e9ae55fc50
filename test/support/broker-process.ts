import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedRedisUrl, uniquePrefix } from './redis.js';

/**
 * `portcullis serve` in its own process, as an operator runs it; resolves once it listens.
 * `track` is handed a cleanup that SIGKILLs it if it still runs.
 */
export async function serveBroker(config: string, env: NodeJS.ProcessEnv, track: (cleanup: () => Promise<void>) => void): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'clients/cli/main.ts', 'serve', '--config', config, '--port', '0'], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  track(async () => void (child.exitCode === null && child.signalCode === null && child.kill('SIGKILL')));
  await new Promise<void>((resolve, reject) => {
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes('Portcullis listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`portcullis serve exited with ${code}: ${stderr}`)));
  });
  return child;
}

/** SIGKILL: no shutdown hook runs, nothing is released or flushed. */
export async function killBroker(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * A config for `serveBroker` on the shared test Redis under a key prefix of its own, in a
 * new folder holding `files` (what `${file:}` references name); `rest` follows `store:`.
 */
export function writeRedisBrokerConfig(name: string, rest: string, files: Record<string, string> = {}): { dir: string; config: string; prefix: string } {
  const dir = mkdtempSync(join(tmpdir(), `portcullis-${name}-`));
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  const prefix = uniquePrefix();
  const config = join(dir, 'portcullis.yaml');
  writeFileSync(config, `server:\n  publicUrl: http://127.0.0.1:8080\nstore:\n  redis: { url: "${sharedRedisUrl}", keyPrefix: "${prefix}" }\n${rest}`);
  return { dir, config, prefix };
}
