import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';

export type Transport = 'websocket' | 'streamable-http';

/**
 * An MCP SDK client of one broker server endpoint, on one transport, that can tell how its
 * session ended: the WebSocket close (code and reason), or the Streamable HTTP stream cut
 * under it.
 */
export interface SessionClient {
  client: Client;
  connect(timeout: number): Promise<void>;
  /** How the session ended, once it did. */
  ended(): string | undefined;
}

/**
 * The SDK's Streamable HTTP transport reports a response stream cut before its answer only
 * to `onerror`, leaving the request pending until its timeout
 * (modelcontextprotocol/typescript-sdk#2739): a client that means to settle every call takes
 * that as the session's end and closes it, which rejects what is pending (ConnectionClosed),
 * as a closed WebSocket does.
 */
export function sessionClient(brokerUrl: string, transport: Transport, token: string, server = 'everything'): SessionClient {
  const client = new Client({ name: 'portcullis-test', version: '1.0.0' }, { capabilities: {} });
  const headers = { authorization: `Bearer ${token}` };
  if (transport === 'websocket') {
    const ws = new BrokerWebSocketTransport(`${brokerUrl.replace('http', 'ws')}/mcp/ws/${server}`, headers);
    const ended = () => (ws.closeInfo ? `closed ${ws.closeInfo.code}${ws.closeInfo.reason ? ` (${ws.closeInfo.reason})` : ''}` : undefined);
    return { client, ended, connect: (timeout) => client.connect(ws, { timeout }) };
  }
  let cut: string | undefined;
  client.onerror = (error) => {
    if (cut !== undefined || !error.message.startsWith('SSE stream disconnected')) return;
    cut = `stream cut (${error.message.slice(0, 60)})`;
    void client.close();
  };
  const http = new StreamableHTTPClientTransport(new URL(`${brokerUrl}/mcp/${server}`), { requestInit: { headers } });
  return { client, ended: () => cut, connect: (timeout) => client.connect(http, { timeout }) };
}

export const HUNG = Symbol('hung');

/** `promise`, or HUNG once `ms` passed without it settling. */
export function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T | typeof HUNG> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof HUNG>((resolve) => (timer = setTimeout(() => resolve(HUNG), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Why a call or an opening was refused, as one short label: how the session ended, the JSON-RPC error and its reason, or the HTTP status. */
export function reasonOf(error: unknown, session: Pick<SessionClient, 'ended'>): string {
  const ended = session.ended();
  if (ended) return ended;
  if (error instanceof McpError) {
    const reason = (error.data as { reason?: unknown } | undefined)?.reason;
    return `JSON-RPC ${error.code}${typeof reason === 'string' ? ` ${reason}` : ''}`;
  }
  if (error instanceof StreamableHTTPError) return `HTTP ${error.code}`;
  const message = error instanceof Error ? error.message : String(error);
  // A refused WebSocket upgrade (BrokerWebSocketTransport): "broker refused the connection: HTTP 403".
  const status = /HTTP (\d{3})/.exec(message)?.[1];
  return status ? `HTTP ${status}` : message.split('\n')[0]!.slice(0, 80) || 'unnamed error';
}

/** One tool call as its client saw it: answered (a result naming `token`), refused with its reason, or hung past the deadline. */
export interface CallOutcome {
  outcome: 'answered' | 'refused' | 'hung';
  reason: string;
}

/** Calls `tool` with `args` (whose result must echo `token`); settles within `deadlineMs` whatever the broker does. */
export async function callOnce(session: SessionClient, tool: string, args: Record<string, unknown>, token: string, deadlineMs: number): Promise<CallOutcome> {
  const result = await withDeadline(
    session.client.callTool({ name: tool, arguments: args }, undefined, { timeout: deadlineMs * 2 }).then(
      (answer) => (JSON.stringify(answer.content).includes(token) ? '' : `wrong answer: ${JSON.stringify(answer).slice(0, 80)}`),
      (error: unknown) => reasonOf(error, session),
    ),
    deadlineMs,
  );
  if (result === HUNG) return { outcome: 'hung', reason: 'deadline' };
  return { outcome: result === '' ? 'answered' : 'refused', reason: result };
}
