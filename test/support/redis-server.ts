import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, connect } from 'node:net';
import type { Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';

/** A private redis-server on a free loopback port, owned by the tests that start it. */
export interface RedisServerHandle {
  readonly port: number;
  readonly url: string;
  /** Graceful stop (SIGTERM). */
  stop(): Promise<void>;
  /** Sudden death (SIGKILL), to test fail-closed paths. */
  kill(): Promise<void>;
  /** Starts it again on the same port, after stop or kill. */
  restart(): Promise<void>;
  /** Freezes it (SIGSTOP): connections stay open but nothing answers, like a hung server. */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

export const REDIS_INSTALL_HINT =
  'redis-server was not found on PATH. Install it to run the Redis-backed tests: ' +
  '`sudo apt-get install -y redis-server` (Debian/Ubuntu) or `brew install redis` (macOS).';

export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
}

/** The command line of a plain, throwaway server: no persistence, loopback only. */
const plainServer = (port: number) => ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'];

export interface RedisServerOptions {
  /** The port speaks TLS only (`--tls-port`): the readiness probe does too, trusting this CA. */
  tlsCa?: string;
}

/** `args` gives the command line for the port (a cluster node, a replica, a Sentinel); a plain server by default. */
export async function startRedisServer(args: (port: number) => string[] = plainServer, options: RedisServerOptions = {}): Promise<RedisServerHandle> {
  const port = await freePort();
  const launch = () => launchOn(port, args(port), options.tlsCa);
  let child = await launch();
  const exit = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  };
  return {
    port,
    url: `${options.tlsCa === undefined ? 'redis' : 'rediss'}://127.0.0.1:${port}`,
    stop: () => exit('SIGTERM'),
    kill: () => exit('SIGKILL'),
    restart: async () => {
      await exit('SIGKILL');
      child = await launch();
    },
    pause: async () => {
      child.kill('SIGSTOP');
    },
    resume: async () => {
      child.kill('SIGCONT');
    },
  };
}

async function launchOn(port: number, args: string[], tlsCa: string | undefined): Promise<ChildProcess> {
  // A directory of its own: a replica writes the copy it syncs to `dump.rdb` where it runs, not into the checkout.
  const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: mkdtempSync(join(tmpdir(), 'portcullis-redis-')) });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 10_000;
  while (!(await answersPing(port, tlsCa))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not answer on port ${port} within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return child;
}

/** Up once it answers PING, or refuses it for want of a password (it answers: auth is the test's business). */
function answersPing(port: number, tlsCa: string | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const socket: Socket = tlsCa === undefined ? connect(port, '127.0.0.1') : connectTls({ port, host: '127.0.0.1', ca: tlsCa });
    socket.setTimeout(500);
    socket.once(tlsCa === undefined ? 'connect' : 'secureConnect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(/^(\+PONG|-NOAUTH)/.test(data.toString()));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Whether something accepts TCP connections on the loopback port (a receiver started, or not yet). */
export function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
