import { createInterface } from 'node:readline';
import type { Interface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import type WebSocket from 'ws';
import { CliError } from '../cli/cli-error.js';
import { openBrokerSocket, UpgradeRefusal } from './broker-socket.js';
import { afterClose, afterRefusal, BridgeFatal } from './close-policy.js';
import type { BridgeTarget, NextStep } from './close-policy.js';
import { SessionReplay } from './session-replay.js';
import { isRecord } from '../../broker/core/json.js';
import { ACCESS_DENIED, errorReply, INTERNAL_ERROR } from '../../broker/jsonrpc.js';
import type { Frame, FrameId } from './session-replay.js';

export { BridgeFatal } from './close-policy.js';

export interface BridgeOptions extends BridgeTarget {
  /**
   * Where to connect and with which token. Asked again before every connection, so a
   * newer login is picked up; throws a CliError when there is no credential at all.
   */
  credentials: () => { url: string; token: string };
  input: Readable;
  output: Writable;
  /** One line for the person at the terminal (stderr). */
  report: (line: string) => void;
  /** How long a request waits for a new connection before it is answered with an error. */
  reconnectTimeoutMs?: number;
  maxReconnectDelayMs?: number;
}

const PARSE_ERROR = -32700;
const FIRST_DELAY_MS = 250;

interface Held {
  frame: Frame;
  line: string;
  timer?: NodeJS.Timeout;
}

/**
 * Bridges a local stdio MCP client (Claude Desktop, Cursor, Claude Code) to a broker
 * WebSocket endpoint: one JSON line in, one frame out, and back.
 *
 * It never leaves the client hanging. When the broker ends a session the bridge opens a
 * new one (at once with backoff, or for an idle close on the client's next message) and
 * rebuilds it (SessionReplay); requests in flight at the drop are answered with an
 * error, and requests sent meanwhile wait for the new connection, a bounded time. When
 * it cannot go on (close-policy), it says why on stderr and answers the client's next
 * request with the same words as a JSON-RPC error, since clients hide stderr, then ends.
 */
export function runBridge(options: BridgeOptions): Promise<void> {
  return new StdioBridge(options).run();
}

class StdioBridge {
  /** The open connection, and whether it has been rebuilt (client frames go straight to it). */
  private connection: WebSocket | undefined;
  private ready = false;
  private rebuilding: { initializeId: string | undefined; rest: Frame[]; timer: NodeJS.Timeout } | undefined;
  /** Client frames waiting for a connection. */
  private readonly held: Held[] = [];
  /** Client requests sent on this connection and not yet answered. */
  private readonly inFlight = new Set<FrameId>();
  /** Requests the broker sent the client on this connection: only their answers are forwarded. */
  private readonly serverRequests = new Set<FrameId>();
  private readonly replay = new SessionReplay();
  private reconnecting = false;
  private lastProblem = '';
  private token: string | undefined;
  private fatal: BridgeFatal | undefined;
  private done = false;
  private wake: (() => void) | undefined;
  private settle!: { resolve(): void; reject(error: Error): void };
  private readonly lines: Interface;
  private readonly reconnectTimeoutMs: number;

  constructor(private readonly options: BridgeOptions) {
    this.lines = createInterface({ input: options.input });
    this.reconnectTimeoutMs = options.reconnectTimeoutMs ?? 30_000;
    // Whichever connection is open by then reads on: one listener for all of them.
    options.output.on('drain', () => this.connection?.resume());
  }

  run(): Promise<void> {
    const result = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.lines.on('line', (line) => this.fromClient(line));
    this.lines.once('close', () => this.finish());
    this.startReconnecting();
    return result;
  }

  private fromClient(line: string): void {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      return this.write({ jsonrpc: '2.0', id: null, error: { code: PARSE_ERROR, message: 'Parse error' } });
    }
    // Anything but an object goes on as it is: the broker answers it as an invalid request.
    const frame: Frame = typeof parsed === 'object' && parsed !== null ? parsed : {};
    if (this.fatal) return this.refuseAfterFatal(frame);
    // An answer to a request of a connection that is gone: nobody waits for it any more.
    if (isResponse(frame) && !this.serverRequests.has(frame.id)) return;
    if (this.connection && this.ready) return this.send(this.connection, frame, line);
    this.hold(frame, line);
    if (!this.reconnecting) this.startReconnecting();
  }

  private fromBroker(ws: WebSocket, text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return this.options.report('portcullis: ignored a frame from the broker that is not JSON');
    }
    if (typeof parsed !== 'object' || parsed === null) return this.options.report('portcullis: ignored a frame from the broker that is not a JSON-RPC message');
    const frame = parsed as Frame;
    const replayed = this.replay.ownRequestAnswered(frame);
    if (replayed !== undefined) return this.replayAnswered(ws, replayed, frame);
    if (isResponse(frame)) {
      this.inFlight.delete(frame.id);
      this.replay.answered(frame);
    } else if (isRequest(frame)) {
      this.serverRequests.add(frame.id);
    }
    // The broker's frame as it came (one line of JSON), unless a line break in it would split it on stdio.
    const line = text.includes('\n') || text.includes('\r') ? JSON.stringify(frame) : text;
    // A client not reading stdout stops the reading of the socket, so what waits piles up at
    // the broker, which closes a client that does not read (1008), not in this process.
    if (!this.options.output.write(`${line}\n`)) ws.pause();
  }

  private send(ws: WebSocket, frame: Frame, line: string): void {
    this.replay.sent(frame);
    if (isRequest(frame)) this.inFlight.add(frame.id);
    else if (isResponse(frame)) this.serverRequests.delete(frame.id);
    // A cancelled request will get no answer (MCP cancellation): it is in flight no more.
    else if (frame.method === 'notifications/cancelled' && isRecord(frame.params)) this.inFlight.delete(frame.params.requestId as FrameId);
    ws.send(line);
  }

  /** Waits for a connection; a request waits a bounded time, then is answered with an error. */
  private hold(frame: Frame, line: string): void {
    const held: Held = { frame, line };
    if (isRequest(frame)) {
      held.timer = setTimeout(() => {
        this.held.splice(this.held.indexOf(held), 1);
        const seconds = Math.round(this.reconnectTimeoutMs / 1000);
        this.write(errorFrame(frame.id, INTERNAL_ERROR, `no connection to the broker within ${seconds} s${this.lastProblem ? ` (${this.lastProblem})` : ''}; still trying`));
      }, this.reconnectTimeoutMs);
    }
    this.held.push(held);
  }

  private startReconnecting(): void {
    this.reconnecting = true;
    this.reconnect()
      .catch((error: unknown) => this.settle.reject(error as Error))
      .finally(() => (this.reconnecting = false));
  }

  private async reconnect(): Promise<void> {
    let delay = FIRST_DELAY_MS;
    const maxDelay = this.options.maxReconnectDelayMs ?? 8_000;
    while (!this.done) {
      const { step, rebuilt } = await this.connectOnce();
      if (this.done) return;
      if (rebuilt) delay = FIRST_DELAY_MS;
      switch (step.kind) {
        case 'fatal':
          return this.fail(step.fatal);
        case 'fatal-unless-fresh-token':
          if (!this.freshToken()) return this.fail(step.fatal);
          this.options.report(`portcullis: ${step.why}; reconnecting with the newer login`);
          continue;
        case 'reconnect-on-next-message':
          if (this.held.length === 0) return this.options.report(`portcullis: ${step.why}; a new one opens on the client's next message`);
        // Messages already wait: reconnect now, backing off like any other drop.
      }
      this.lastProblem = step.why;
      this.options.report(`portcullis: ${step.why}; reconnecting in ${delay} ms`);
      await this.sleep(delay);
      delay = Math.min(delay * 2, maxDelay);
    }
  }

  /** One connection, from the handshake to its close, and what to do next. */
  private async connectOnce(): Promise<{ step: NextStep; rebuilt: boolean }> {
    let target: { url: string; token: string };
    try {
      target = this.options.credentials();
    } catch (error) {
      if (!(error instanceof CliError)) throw error;
      return { step: { kind: 'fatal', fatal: new BridgeFatal(error.code.toLowerCase(), `portcullis: ${error.code}: ${error.message}`) }, rebuilt: false };
    }
    this.token = target.token;
    let ws: WebSocket;
    try {
      ws = await openBrokerSocket(target.url, target.token);
    } catch (error) {
      const step: NextStep = error instanceof UpgradeRefusal ? afterRefusal(error.status, error.body, this.options) : { kind: 'reconnect', why: `cannot reach ${target.url} (${(error as Error).message})` };
      return { step, rebuilt: false };
    }
    return new Promise((resolve) => {
      this.connection = ws;
      // Still full from the last connection: this one waits for the client too.
      if (this.options.output.writableNeedDrain) ws.pause();
      ws.on('message', (data) => this.fromBroker(ws, data.toString()));
      ws.once('close', (code, reason) => {
        const rebuilt = this.ready;
        this.dropped(code, reason.toString());
        resolve({ step: afterClose(code, reason.toString(), this.options), rebuilt });
      });
      if (this.done) ws.close(1000);
      else this.rebuild(ws);
    });
  }

  /**
   * Replays the session on a new connection. Client frames wait until every replayed
   * request is answered: the client's next request must see the session as it was (an
   * upstream may handle requests concurrently, so sending order alone does not ensure it).
   */
  private rebuild(ws: WebSocket): void {
    const { initialize, rest } = this.replay.rebuild();
    // An upstream that never answers must not hold the client's requests forever.
    const timer = setTimeout(() => ws.terminate(), this.reconnectTimeoutMs);
    this.rebuilding = { initializeId: initialize?.id, rest, timer };
    if (initialize) ws.send(JSON.stringify(initialize));
    else this.replayRest(ws);
  }

  private replayAnswered(ws: WebSocket, method: string, answer: Frame): void {
    if (!this.rebuilding) return;
    if (answer.error !== undefined) this.options.report(`portcullis: the new session refused the replayed ${method} (${JSON.stringify(answer.error)}); carrying on`);
    if (answer.id === this.rebuilding.initializeId) this.replayRest(ws);
    else if (!this.replay.awaitingAnswers()) this.becomeReady(ws);
  }

  private replayRest(ws: WebSocket): void {
    for (const frame of this.rebuilding!.rest) ws.send(JSON.stringify(frame));
    if (!this.replay.awaitingAnswers()) this.becomeReady(ws);
  }

  private becomeReady(ws: WebSocket): void {
    clearTimeout(this.rebuilding?.timer);
    this.rebuilding = undefined;
    this.ready = true;
    this.lastProblem = '';
    for (const held of this.held.splice(0)) {
      clearTimeout(held.timer);
      this.send(ws, held.frame, held.line);
    }
  }

  /** The connection ended: what was in flight on it is answered, never left hanging. */
  private dropped(code: number, reason: string): void {
    this.connection = undefined;
    this.ready = false;
    clearTimeout(this.rebuilding?.timer);
    this.rebuilding = undefined;
    this.replay.dropped();
    this.serverRequests.clear();
    if (!this.done) {
      for (const id of this.inFlight) this.write(errorFrame(id, INTERNAL_ERROR, `connection to the broker lost (${code}${reason ? ` ${reason}` : ''})`));
    }
    this.inFlight.clear();
  }

  private freshToken(): boolean {
    try {
      return this.options.credentials().token !== this.token;
    } catch {
      return false;
    }
  }

  /** Says why on stderr at once; the client hears it on its next request (or now, if one waits), then the bridge ends. */
  private fail(fatal: BridgeFatal): void {
    this.fatal = fatal;
    this.options.report(fatal.message);
    const waiting = this.held.splice(0).filter((held) => {
      clearTimeout(held.timer);
      return isRequest(held.frame);
    });
    for (const held of waiting) this.write(this.fatalAnswer(held.frame));
    if (waiting.length > 0) this.finish();
  }

  private refuseAfterFatal(frame: Frame): void {
    if (isRequest(frame)) this.write(this.fatalAnswer(frame));
    this.finish();
  }

  private fatalAnswer(frame: Frame): Frame {
    return errorFrame(frame.id ?? null, ACCESS_DENIED, this.fatal!.message, { reason: this.fatal!.reason });
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    for (const held of this.held.splice(0)) clearTimeout(held.timer);
    this.wake?.();
    this.connection?.close(1000);
    this.lines.close();
    // Settled once what was written has reached the client, so an exit cannot cut it off.
    this.options.output.write('', () => (this.fatal ? this.settle.reject(this.fatal) : this.settle.resolve()));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private write(frame: Frame): void {
    this.options.output.write(`${JSON.stringify(frame)}\n`);
  }
}

function isRequest(frame: Frame): frame is Frame & { id: FrameId } {
  return typeof frame.method === 'string' && frame.id !== undefined && frame.id !== null;
}

function isResponse(frame: Frame): frame is Frame & { id: FrameId } {
  return frame.method === undefined && frame.id !== undefined && frame.id !== null;
}

function errorFrame(id: FrameId | null, code: number, message: string, data?: Record<string, unknown>): Frame {
  return errorReply(id, code, message, data) as Frame;
}
