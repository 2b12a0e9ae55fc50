import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { callOnce, sessionClient } from './mcp-session-client.js';
import type { CallOutcome, SessionClient, Transport } from './mcp-session-client.js';

/** How a Streamable HTTP session ends: a call answered 404 (the broker knows its id no more; its client must start a new one). */
export const SESSION_GONE = 'HTTP 404';

/** One call of a burst as its client saw it; `text` is what it asked `say` to echo, which names it upstream and in the audit log. */
export interface BurstCall extends CallOutcome {
  session: number;
  transport: Transport;
  text: string;
  /** performance.now() when it was sent and when it settled: to order it against what the test did, never to time it. */
  sentAt: number;
  settledAt: number;
}

/** A session of the burst: its client, and what became of its calls. */
export class BurstSession {
  constructor(
    readonly index: number,
    readonly transport: Transport,
    readonly mcp: SessionClient,
    private readonly calls: readonly BurstCall[],
  ) {}

  /** Its calls sent after `at` (a performance.now() mark) and settled (`outcome` only, when given). */
  since(at: number, outcome?: BurstCall['outcome']): BurstCall[] {
    return this.calls.filter((call) => call.session === this.index && call.sentAt > at && (outcome === undefined || call.outcome === outcome));
  }

  /** How the session ended, once it did: the WebSocket close, the HTTP stream cut under it, or SESSION_GONE. */
  ended(): string | undefined {
    return this.mcp.ended() ?? (this.calls.some((call) => call.session === this.index && call.reason === SESSION_GONE) ? SESSION_GONE : undefined);
  }
}

/**
 * MCP sessions through a broker's `everything` endpoints (WebSocket and Streamable HTTP,
 * real SDK clients), each calling `say` one call after another without pause until
 * stopped, every call settled (answered, refused with its reason, or hung past the
 * deadline) and recorded. Sessions join whenever the test opens one.
 */
export class McpCallBurst {
  readonly calls: BurstCall[] = [];
  readonly sessions: BurstSession[] = [];
  private readonly run = randomUUID().slice(0, 8);
  private readonly loops: Promise<void>[] = [];
  private stopped = false;

  constructor(
    private readonly brokerUrl: string,
    private readonly deadlineMs: number,
  ) {}

  /** Opens a session with `token` (throws if the broker refuses it) and starts its calls. */
  async open(transport: Transport, token: string): Promise<BurstSession> {
    const mcp = sessionClient(this.brokerUrl, transport, token);
    await mcp.connect(this.deadlineMs);
    const session = new BurstSession(this.sessions.length, transport, mcp, this.calls);
    this.sessions.push(session);
    this.loops.push(this.loop(session));
    return session;
  }

  /** Ends the calls (each session finishes the one it is making) and closes the clients. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
    await Promise.all(this.sessions.map((session) => session.mcp.client.close().catch(() => {})));
  }

  private async loop(session: BurstSession): Promise<void> {
    for (let n = 0; !this.stopped && !session.ended(); n++) {
      const text = `${this.run}-${session.index}-${n}`;
      const sentAt = performance.now();
      const settled = await callOnce(session.mcp, 'say', { text }, text, this.deadlineMs);
      this.calls.push({ session: session.index, transport: session.transport, text, sentAt, settledAt: performance.now(), ...settled });
      // Refusals come back at once while the store is away: a short pause keeps the burst from spinning.
      if (settled.outcome !== 'answered') await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
