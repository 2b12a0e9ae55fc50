import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StdioUpstream } from '../../broker/upstreams/stdio.js';
import { captureLogs } from '../support/log-capture.js';

/**
 * Review: close() returned at once when the group's leader had exited already, so a
 * wrapper (npx, uvx, sh -c) that exits while what it started runs on left that running,
 * reparented to init, after the session ended.
 */

/** Running, as a zombie is not (an orphan's new parent may never reap it: PID 1 in a container). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ...".
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)?.[0] !== 'Z';
  } catch {
    return true;
  }
}

describe('a stdio upstream whose process group outlives its leader', () => {
  const orphans: number[] = [];
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    for (const pid of orphans.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Gone, as it should be.
      }
    }
  });

  /** Where the shell writes the pid of what it leaves running. */
  function pidFile(): string {
    const dir = mkdtempSync(join(tmpdir(), 'upstream-group-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return join(dir, 'pid');
  }

  function orphan(file: string): number {
    const pid = Number(readFileSync(file, 'utf8'));
    orphans.push(pid);
    return pid;
  }

  it('ends what the leader left running in its group when the leader exits', async () => {
    const file = pidFile();
    const logs = captureLogs();
    const upstream = new StdioUpstream(
      { name: 'wrapper', transport: 'stdio', command: 'sh', args: ['-c', `sleep 300 & echo $! > ${file}; exit 3`], env: {}, readOnlyTools: [], allowMethods: [], toolPinning: 'pin' },
      { baseDir: process.cwd(), logger: logs.logger, scrubber: logs.scrubber },
    );
    const closed: string[] = [];
    upstream.onclose = (reason) => void closed.push(reason);
    cleanups.push(() => upstream.close());
    await upstream.start();
    await expect.poll(() => closed).toEqual(['upstream exited (code 3)']);
    const pid = orphan(file);
    await expect.poll(() => running(pid)).toBe(false);
  });

  it('has ended it, with SIGKILL when it ignores SIGTERM, by the time close resolves after the leader exited', async () => {
    const file = pidFile();
    // A broker that exits as soon as close resolves: what close left to a timer never happens.
    const broker = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/upstream-closes-then-exits.ts', file], { stdio: 'inherit' });
    const code = await new Promise((resolve) => broker.once('exit', resolve));
    const pid = orphan(file);
    expect(code).toBe(0);
    await expect.poll(() => running(pid)).toBe(false);
  });
});
