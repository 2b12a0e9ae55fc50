import { spawn, spawnSync } from 'node:child_process';
import { describe } from 'vitest';
import { isCi } from './ci.js';
import { acceptsConnections } from './redis-server.js';

export const HAPROXY_INSTALL_HINT = 'haproxy was not found on PATH: `sudo apt-get install -y haproxy` (Debian/Ubuntu) runs the HAProxy tests.';

export function hasHaproxy(): boolean {
  return spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).status === 0;
}

const haproxyMissingOutsideCi = !hasHaproxy() && !isCi();
if (haproxyMissingOutsideCi) console.warn(`\n${HAPROXY_INSTALL_HINT}\nThe HAProxy tests are skipped (under CI=true they fail).\n`);

/** describe() for suites that run haproxy: skipped with a hint when it is missing, except under CI=true. */
export const describeWithHaproxy = haproxyMissingOutsideCi ? describe.skip : describe;

/** `haproxy -c`: its exit status and what it printed. */
export function checkHaproxyConfig(file: string): { status: number | null; output: string } {
  const result = spawnSync('haproxy', ['-c', '-f', file], { encoding: 'utf8' });
  if (result.error) throw new Error(HAPROXY_INSTALL_HINT);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

export interface HaproxyHandle {
  stop(): Promise<void>;
}

/** Runs haproxy in the foreground on a configuration until stop(); resolves once `port` accepts connections. */
export async function startHaproxy(file: string, port: number): Promise<HaproxyHandle> {
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  const deadline = Date.now() + 10_000;
  while (!(await acceptsConnections(port))) {
    if (child.exitCode !== null) throw new Error(`haproxy exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`haproxy did not listen on port ${port} within 10 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return { stop };
}

