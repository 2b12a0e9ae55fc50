import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import WebSocket from 'ws';

export interface BridgeOptions {
  url: string;
  token: string;
  input: Readable;
  output: Writable;
  /** One line for the person at the terminal (stderr). */
  report: (line: string) => void;
  maxReconnectDelayMs?: number;
}

type Message = { id?: string | number | null; method?: string; [key: string]: unknown };

const RECONNECT_ID = '__portcullis_reinitialize__';

/** Why the bridge gave up: printed once, exit code 1. */
export class BridgeFatal extends Error {}

/**
 * Bridges a local stdio MCP client (Claude Desktop, Cursor, Claude Code) to the broker's
 * WebSocket endpoint: one JSON line in, one frame out, and back. When the connection
 * drops it reconnects with backoff and replays the client's initialize handshake, so the
 * client sees no gap; requests in flight at the drop are answered with an error. A grant
 * that ended (4403) or a refusal (401/403/404) ends the bridge with a clear message.
 */
export async function runBridge(options: BridgeOptions): Promise<void> {
  let socket: WebSocket | undefined;
  let initialize: Message | undefined;
  let initialized: Message | undefined;
  const inFlight = new Set<string | number>();
  const queue: string[] = [];
  let closedByClient = false;

  const writeOut = (message: Message) => options.output.write(`${JSON.stringify(message)}\n`);

  const lines = createInterface({ input: options.input });
  lines.on('line', (line) => {
    if (line.trim() === '') return;
    let message: Message;
    try {
      message = JSON.parse(line) as Message;
    } catch {
      return void writeOut({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error' } });
    }
    if (message.method === 'initialize') initialize = message;
    if (message.method === 'notifications/initialized') initialized = message;
    if (message.method !== undefined && message.id !== undefined && message.id !== null) inFlight.add(message.id);
    if (socket?.readyState === WebSocket.OPEN) socket.send(line);
    else queue.push(line);
  });

  const connect = (replay: boolean) =>
    new Promise<{ code: number; reason: string }>((resolve, reject) => {
      const ws = new WebSocket(options.url, 'mcp', { headers: { authorization: `Bearer ${options.token}` } });
      ws.once('unexpected-response', (_req, res) => reject(refusal(res.statusCode ?? 0)));
      ws.once('error', (error) => reject(error));
      ws.once('open', () => {
        socket = ws;
        if (replay && initialize) {
          ws.send(JSON.stringify({ ...initialize, id: RECONNECT_ID }));
          if (initialized) ws.send(JSON.stringify(initialized));
        }
        for (const line of queue.splice(0)) ws.send(line);
      });
      ws.on('message', (data) => {
        const message = JSON.parse(data.toString()) as Message;
        if (message.id === RECONNECT_ID && message.method === undefined) return;
        if (message.method === undefined && message.id !== undefined && message.id !== null) inFlight.delete(message.id);
        writeOut(message);
      });
      ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });

  const done = new Promise<void>((resolve) => lines.once('close', () => {
    closedByClient = true;
    socket?.close(1000);
    resolve();
  }));

  let delay = 250;
  let replay = false;
  while (!closedByClient) {
    let closed: { code: number; reason: string };
    try {
      closed = await Promise.race([connect(replay), done.then(() => ({ code: 1000, reason: 'client closed' }))]);
      delay = 250;
    } catch (error) {
      if (error instanceof BridgeFatal) throw error;
      options.report(`portcullis: cannot reach ${options.url} (${(error as Error).message}); retrying in ${Math.round(delay / 1000)} s`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, options.maxReconnectDelayMs ?? 30_000);
      continue;
    }
    socket = undefined;
    for (const id of inFlight) writeOut({ jsonrpc: '2.0', id, error: { code: -32603, message: `connection to the broker lost: ${closed.reason || closed.code}` } });
    inFlight.clear();
    if (closedByClient || closed.code === 1000) break;
    if (closed.code === 4403) throw new BridgeFatal(`portcullis: access ended (${closed.reason}); request access again with \`portcullis request\``);
    options.report(`portcullis: connection closed (${closed.code} ${closed.reason}); reconnecting`);
    replay = true;
  }
}

function refusal(status: number): Error {
  switch (status) {
    case 401:
      return new BridgeFatal('portcullis: the broker refused the token (401): sign in again with `portcullis login`, or check PORTCULLIS_TOKEN');
    case 403:
      return new BridgeFatal('portcullis: no active grant for this server (403): request access with `portcullis request <server>`');
    case 404:
      return new BridgeFatal('portcullis: the broker knows no such server (404): list them with `portcullis servers`');
    default:
      return new Error(`HTTP ${status}`);
  }
}
