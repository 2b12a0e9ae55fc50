import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { resolve } from 'node:path';
import type { McpServerConfig } from '../../server/config/schema.js';
import type { Logger } from '../../server/log.js';
import type { SecretScrubber } from '../../server/text/secret-scrubber.js';
import { coalesceWrites } from '../turn-writes.js';
import { StderrLog } from './stderr-log.js';
import type { Upstream } from './upstream.js';

type StdioServer = Extract<McpServerConfig, { transport: 'stdio' }>;

/** Inherited from the broker's environment; everything else comes from the config's `env`. */
const INHERITED_ENV = ['PATH', 'HOME', 'LOGNAME', 'USER', 'SHELL', 'TERM', 'LANG', 'TMPDIR', 'SystemRoot'];
const MAX_LINE_BYTES = 8 * 1024 * 1024;
const KILL_GRACE_MS = 2_000;

/**
 * A child process per client session, speaking newline-delimited JSON-RPC on stdin and
 * stdout (the MCP stdio transport). It runs in its own process group so ending the
 * session ends everything it started; stderr goes to the log (scrubbed of secrets).
 */
export class StdioUpstream implements Upstream {
  onmessage?: (message: unknown, bytes: number) => void;
  onclose?: (reason: string) => void;
  private child: ChildProcessWithoutNullStreams | undefined;
  private closing = false;
  private buffer = '';

  constructor(
    private readonly server: StdioServer,
    private readonly options: { baseDir: string; logger: Logger; scrubber: SecretScrubber },
  ) {}

  async start(): Promise<void> {
    const env: NodeJS.ProcessEnv = {};
    for (const name of INHERITED_ENV) if (process.env[name] !== undefined) env[name] = process.env[name];
    const child = spawn(this.server.command, this.server.args, {
      cwd: resolve(this.options.baseDir, this.server.cwd ?? '.'),
      env: { ...env, ...this.server.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    this.child = child;
    const log = this.options.logger.child({ upstream: this.server.name, pid: child.pid });
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => this.receive(chunk));
    const stderr = new StderrLog(log, this.options.scrubber);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => stderr.write(chunk));
    child.stderr.on('end', () => stderr.end());
    child.stdin.on('error', () => {});
    child.once('exit', (code, signal) => {
      if (!this.closing) this.onclose?.(`upstream exited (${signal ?? `code ${code}`})`);
    });
    await new Promise<void>((resolveStart, rejectStart) => {
      child.once('spawn', () => resolveStart());
      child.once('error', (error) => rejectStart(error));
    });
  }

  async send(message: Record<string, unknown>): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) throw new Error('upstream is not running');
    coalesceWrites(child.stdin);
    await new Promise<void>((resolveWrite, rejectWrite) => child.stdin.write(`${JSON.stringify(message)}\n`, (error) => (error ? rejectWrite(error) : resolveWrite())));
  }

  async close(): Promise<void> {
    this.closing = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    child.stdin.end();
    signalGroup(child, 'SIGTERM');
    const force = setTimeout(() => signalGroup(child, 'SIGKILL'), KILL_GRACE_MS);
    await exited;
    clearTimeout(force);
    // The leader is gone; anything it left in its group goes too.
    signalGroup(child, 'SIGKILL');
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    if (this.buffer.length > MAX_LINE_BYTES) {
      this.buffer = '';
      this.onclose?.('upstream sent an oversized message');
      void this.close();
      return;
    }
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line === '') continue;
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        this.options.logger.warn({ upstream: this.server.name }, 'upstream wrote a line that is not JSON; dropped');
        continue;
      }
      this.onmessage?.(message, Buffer.byteLength(line));
    }
  }
}

function signalGroup(child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}
