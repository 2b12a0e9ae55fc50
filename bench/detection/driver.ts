/**
 * Plays a plan's actions through the broker as its people would: real MCP SDK clients
 * (each introducing itself with the person's client name and version) over the broker's
 * WebSocket endpoint, one session per person, server and client, opened at their first
 * call of the day and closed when their day ends. Before each instant's actions the
 * broker's clock is moved to it: every audit event carries the simulated time.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';
import type { ManualClock } from '../../test/support/manual-clock.js';
import type { SignedIn } from './deployment.js';
import type { ClientInfo } from './population.js';
import type { Action } from './traffic.js';

/** Where a call (or a refused open) went: the audit event that records it carries the same. */
export const answerKey = (user: string, server: string, at: number, id: string | number) => `${user}|${server}|${at}|${id}`;

export interface ReplayResult {
  calls: number;
  /** Calls the broker refused (a JSON-RPC error), and session opens it refused. */
  refusedCalls: number;
  refusedOpens: number;
  /** Wall time (performance.now) each call was answered, by answerKey (its JSON-RPC id; `open` for a session open, accepted or refused). */
  answeredAt: Map<string, number>;
  seconds: number;
}

interface Session {
  client: Client;
  /** The JSON-RPC id of the last request sent (initialize, then each tools/call): what the broker audits it under. */
  lastId: string | number | null;
  closed: boolean;
}

export class Replay {
  private readonly sessions = new Map<string, Promise<Session | null>>();
  private readonly result: ReplayResult = { calls: 0, refusedCalls: 0, refusedOpens: 0, answeredAt: new Map(), seconds: 0 };

  constructor(
    private readonly deps: { wsUrl: string; clock: ManualClock; people: ReadonlyMap<string, SignedIn> },
  ) {}

  /** Runs every action, an instant at a time (people in parallel, each person's actions in order). */
  async run(actions: readonly Action[], onInstant?: (at: number) => void): Promise<ReplayResult> {
    const started = performance.now();
    for (let i = 0; i < actions.length; ) {
      const at = actions[i]!.at;
      const byUser = new Map<string, Action[]>();
      for (; i < actions.length && actions[i]!.at === at; i++) {
        const action = actions[i]!;
        byUser.set(action.user, [...(byUser.get(action.user) ?? []), action]);
      }
      if (at > this.deps.clock.now()) this.deps.clock.advance(at - this.deps.clock.now());
      onInstant?.(at);
      await Promise.all([...byUser.values()].map(async (mine) => {
        for (const action of mine) await this.act(action);
      }));
    }
    await Promise.all([...this.deps.people.keys()].map((user) => this.end(user)));
    this.result.seconds = (performance.now() - started) / 1000;
    return this.result;
  }

  private async act(action: Action): Promise<void> {
    switch (action.kind) {
      case 'call':
        return this.call(action);
      case 'open': {
        const session = await this.open(action.user, action.server, action.client, action.at);
        if (session) throw new Error(`the broker let ${action.user} open a session on ${action.server}: the plan expected a refusal`);
        return;
      }
      case 'end':
        return this.end(action.user);
      case 'grant':
        return this.deps.people.get(action.user)!.grant(action.server, action.until);
    }
  }

  private async call(action: Extract<Action, { kind: 'call' }>): Promise<void> {
    const key = `${action.user}|${action.server}|${action.client.name}|${action.client.version}`;
    let pending = this.sessions.get(key);
    if (!pending) this.sessions.set(key, (pending = this.open(action.user, action.server, action.client, action.at)));
    const session = await pending;
    if (!session) return void this.sessions.delete(key);
    this.result.calls++;
    try {
      const result = await session.client.callTool({ name: action.tool, arguments: action.args });
      if (result.isError) throw new Error(`${action.server}/${action.tool} answered with an error`);
    } catch (error) {
      if (!isRefusal(error)) throw error;
      this.result.refusedCalls++;
    } finally {
      this.result.answeredAt.set(answerKey(action.user, action.server, action.at, session.lastId ?? 'none'), performance.now());
    }
    // The broker ended the session (its grant expired): the next call opens a new one.
    if (session.closed) this.sessions.delete(key);
  }

  /** A session, or null when the broker refused it (the refusal's answer time recorded). */
  private async open(user: string, server: string, info: ClientInfo, at: number): Promise<Session | null> {
    const transport = new BrokerWebSocketTransport(`${this.deps.wsUrl}/mcp/ws/${server}`, { authorization: `Bearer ${this.deps.people.get(user)!.token}` });
    const session: Session = { client: new Client(info), lastId: null, closed: false };
    const send = transport.send.bind(transport);
    transport.send = (message: JSONRPCMessage) => {
      if ('method' in message && 'id' in message) session.lastId = message.id;
      return send(message);
    };
    try {
      await session.client.connect(transport);
    } catch (error) {
      if (!/HTTP 403/.test(String(error))) throw error;
      this.result.refusedOpens++;
      this.result.answeredAt.set(answerKey(user, server, at, 'open'), performance.now());
      return null;
    }
    // The initialize introduced the client (the new-client rule's event); the session's start is a first use of the server.
    const answered = performance.now();
    this.result.answeredAt.set(answerKey(user, server, at, session.lastId ?? 'none'), answered);
    this.result.answeredAt.set(answerKey(user, server, at, 'open'), answered);
    session.client.onclose = () => void (session.closed = true);
    return session;
  }

  private async end(user: string): Promise<void> {
    const mine = [...this.sessions.keys()].filter((key) => key.startsWith(`${user}|`));
    const closing = mine.map(async (key) => {
      const session = await this.sessions.get(key);
      this.sessions.delete(key);
      await session?.client.close();
    });
    await Promise.all(closing);
  }
}

/** A JSON-RPC error the broker answered with (-32001: refused by the grant), or the session closed under the call. */
function isRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === -32001 || code === -32000 || code === -32603;
}
