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
/** A line with its newline, in bytes: the bound the Streamable HTTP upstream puts on a message too. */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;
const KILL_GRACE_MS = 2_000;
/** How often a group given SIGTERM is checked for what is left of it. */
const GROUP_POLL_MS = 20;
const NEWLINE = 0x0a;

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
  /** The line being read, as it came (a character may straddle two chunks), and its length in bytes. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private groupEnded: Promise<void> | undefined;

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
    child.stdout.on('data', (chunk: Buffer) => this.receive(chunk));
    const stderr = new StderrLog(log, this.options.scrubber);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => stderr.write(chunk));
    child.stderr.on('end', () => stderr.end());
    child.stdin.on('error', () => {});
    child.once('exit', (code, signal) => {
      // A wrapper (npx, uvx, sh -c) may exit while what it started runs on in its group.
      void this.endGroup(child);
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

  /** Ends the whole process group, also when its leader has exited already. */
  async close(): Promise<void> {
    this.closing = true;
    const child = this.child;
    if (!child) return;
    child.stdin.end();
    await this.endGroup(child);
  }

  /** Once per child: from its exit or from close, whichever comes first. */
  private endGroup(child: ChildProcessWithoutNullStreams): Promise<void> {
    return (this.groupEnded ??= endGroup(child));
  }

  /**
   * Splits stdout into lines. Only the new chunk is searched for a newline: a long line
   * comes in many chunks (64 KiB a read), and searching it all again at each would cost
   * time in the square of its length.
   */
  private receive(chunk: Buffer): void {
    let start = 0;
    for (let newline = chunk.indexOf(NEWLINE); newline >= 0; newline = chunk.indexOf(NEWLINE, start)) {
      if (!this.hold(newline + 1 - start)) return;
      // Most lines come whole in one chunk: decoded where they lie, with no copy.
      const line = this.pending.length === 0 ? chunk.toString('utf8', start, newline) : Buffer.concat([...this.pending, chunk.subarray(start, newline)]).toString('utf8');
      if (this.pending.length > 0) this.pending = [];
      this.pendingBytes = 0;
      start = newline + 1;
      this.handleLine(line.trim());
    }
    if (this.hold(chunk.length - start) && start < chunk.length) this.pending.push(chunk.subarray(start));
  }

  /** Counts `bytes` more into the line being read; false, and the session ends, once it outgrows MAX_LINE_BYTES. */
  private hold(bytes: number): boolean {
    this.pendingBytes += bytes;
    if (this.pendingBytes <= MAX_LINE_BYTES) return true;
    this.pending = [];
    this.pendingBytes = 0;
    this.onclose?.('upstream sent an oversized message');
    void this.close();
    return false;
  }

  private handleLine(line: string): void {
    if (line === '') return;
    let message: unknown;
    try {
      message = JSON.parse(line);
    } catch {
      this.options.logger.warn({ upstream: this.server.name }, 'upstream wrote a line that is not JSON; dropped');
      return;
    }
    try {
      this.onmessage?.(message, Buffer.byteLength(line));
    } catch (error) {
      // Thrown into a stream's 'data' handler it would end the process, every session with it: this server's session ends instead.
      this.options.logger.error({ err: error, upstream: this.server.name }, 'handling a message of the upstream failed');
      this.onclose?.('the broker could not handle a message of this server');
      void this.close();
    }
  }
}

/**
 * SIGTERM to the child's whole group (it leads one: spawned detached), SIGKILL to whatever
 * of it still runs after the grace period; done once the leader has exited too.
 */
async function endGroup(child: ChildProcessWithoutNullStreams): Promise<void> {
  const exited = child.exitCode === null && child.signalCode === null ? new Promise<void>((done) => child.once('exit', () => done())) : undefined;
  signalGroup(child, 'SIGTERM');
  const deadline = Date.now() + KILL_GRACE_MS;
  const pause = () => new Promise((resolve) => setTimeout(resolve, GROUP_POLL_MS));
  // Looked at again as soon as the leader exits (most groups are the leader alone), then every poll while anything is left.
  while (groupRuns(child) && Date.now() < deadline) await (exited && child.exitCode === null && child.signalCode === null ? Promise.race([pause(), exited]) : pause());
  signalGroup(child, 'SIGKILL');
  await exited;
}

function groupRuns(child: ChildProcessWithoutNullStreams): boolean {
  if (child.pid === undefined) return false;
  try {
    process.kill(-child.pid, 0);
    return true;
  } catch (error) {
    // EPERM: a member that may not be signalled still runs.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function signalGroup(child: ChildProcessWithoutNullStreams, signal: NodeJS.Signals): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, signal);
  } catch {
    // The group is already gone.
  }
}
