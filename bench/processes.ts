import { execFileSync, fork, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { connect, createServer as createNetServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { BrokerReply, BrokerRequest } from './broker-process.js';

/** Children run from the repository root, where `--import tsx` and relative paths resolve. */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

/** How to start the bench upstream in stdio mode (for the broker's config and for direct clients). */
export const STDIO_UPSTREAM = { command: process.execPath, args: ['--import', 'tsx', 'bench/upstream.ts', 'stdio'], cwd: REPO_ROOT };

/** The minimal JSON-RPC echo server over stdio (no SDK): the upstream of the peers scenario. */
export const ECHO_UPSTREAM = { command: process.execPath, args: ['--import', 'tsx', join(REPO_ROOT, 'bench/echo-upstream.ts')], cwd: REPO_ROOT };

export interface BrokerProcess {
  readonly pid: number;
  readonly url: string;
  readonly wsUrl: string;
  /**
   * Runs `run` as a timed window: returns its result and the broker's CPU time during it
   * (user plus system, and the system part alone: time in the kernel, mostly socket and
   * pipe I/O), and, when the broker was started with a profile directory, writes a CPU
   * profile of the window there as `<name>.cpuprofile`.
   */
  window<T>(name: string, run: () => Promise<T>): Promise<{ result: T; cpuMicros: number; systemMicros: number }>;
  /** Heap in use after a full collection, and the resident set. */
  heap(): Promise<{ heapUsed: number; rss: number }>;
  stop(): Promise<void>;
}

/**
 * Compiles a checkout's broker into its `dist/` (incremental: a second or two when nothing
 * changed), so the brokers the bench starts run the code as it is now.
 */
export function buildBroker(tree = REPO_ROOT): void {
  execFileSync(process.execPath, [join(tree, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: tree, stdio: 'inherit' });
}

/**
 * A broker in a child process, run from a checkout's compiled `dist/` (buildBroker): this
 * one's, or with `tree` another's (the relay scenario's `--base`). With `profileDir`, its
 * timed windows are profiled into that directory.
 */
export async function startBrokerProcess(config: unknown, options: { profileDir?: string; tree?: string } = {}): Promise<BrokerProcess> {
  const { profileDir, tree = REPO_ROOT } = options;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const child = fork(join(REPO_ROOT, 'bench/broker-process.ts'), [join(tree, 'dist')], {
    cwd: tree,
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = <T extends BrokerReply['type']>(request: BrokerRequest, answer: T) => nextReply<BrokerReply, T>(child, answer, () => child.send(request));
  const { port } = await ask({ type: 'start', config }, 'ready');
  const cpu = () => ask({ type: 'cpu' }, 'cpu');
  return {
    pid: child.pid!,
    url: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    window: async (name, run) => {
      if (profileDir) await ask({ type: 'profile-start' }, 'profiling');
      const before = await cpu();
      const result = await run();
      const after = await cpu();
      if (profileDir) await ask({ type: 'profile-stop', file: join(profileDir, `${name}.cpuprofile`) }, 'profiled');
      const systemMicros = after.system - before.system;
      return { result, cpuMicros: after.user - before.user + systemMicros, systemMicros };
    },
    heap: () => ask({ type: 'heap' }, 'heap'),
    stop: async () => {
      const exited = exitOf(child);
      child.send({ type: 'stop' } satisfies BrokerRequest);
      await exited;
    },
  };
}

/** Sends a request to a forked child and resolves with its next reply of `type` (a `failed` reply, or its exit, rejects). */
export function nextReply<R extends { type: string }, T extends R['type']>(child: ChildProcess, type: T, send: () => void): Promise<Extract<R, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: R & { error?: string }) => {
      if (message.type === 'failed') done(new Error(`child ${child.pid} failed: ${message.error}`));
      else if (message.type === type) done(undefined, message as Extract<R, { type: T }>);
    };
    const onExit = (code: number | null) => done(new Error(`child ${child.pid} exited (${code}) before answering ${type}`));
    const done = (error?: Error, message?: Extract<R, { type: T }>) => {
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message!);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    send();
  });
}

export interface HttpUpstream {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** The bench upstream serving Streamable HTTP, in its own process. */
export async function startHttpUpstream(): Promise<HttpUpstream> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/upstream.ts', 'http'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let seen = '';
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      const match = /listening (\d+)/.exec(seen);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`upstream exited (${code}): ${seen}`)));
  });
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    pid: child.pid!,
    stop: () => stopChild(child),
  };
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** CPU time (user + system) of another process, from /proc (Linux; 0 elsewhere). */
export function processCpuMicros(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/**
 * Read and write system calls a process (every thread of it) made so far, from
 * /proc/<pid>/io (Linux; zeros elsewhere): `read`/`readv` and `write`/`writev` on its
 * sockets and pipes, the I/O a relayed message costs in the kernel whatever the CPU.
 */
export function processSyscalls(pid: number): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    return { reads: Number(/^syscr: (\d+)/m.exec(io)?.[1] ?? 0), writes: Number(/^syscw: (\d+)/m.exec(io)?.[1] ?? 0) };
  } catch {
    return { reads: 0, writes: 0 };
  }
}

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/** How long a process's main thread has waited, runnable, for a CPU (Linux schedstat; 0 elsewhere). */
export function runQueueWaitMicros(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1000;
  } catch {
    return 0;
  }
}

/** The pids of a process's children, then theirs (Linux /proc; empty elsewhere or once it has gone). */
export function descendantPids(pid: number): number[] {
  let children: number[];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return children.flatMap((child) => [child, ...descendantPids(child)]);
}

/** A loopback port free at the time of asking (for programs that take a port and cannot report the one they bound). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `port` accepts a connection on loopback; rejects if `child` exits first. */
export async function listening(port: number, child: ChildProcess): Promise<void> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`process ${child.pid} exited (${child.exitCode ?? child.signalCode}) before listening on ${port}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await delay(50);
  }
}

/** Stops a child process (SIGTERM) and waits for it to exit. */
export async function stopChild(child: ChildProcess): Promise<void> {
  const exited = exitOf(child);
  child.kill('SIGTERM');
  await exited;
}
