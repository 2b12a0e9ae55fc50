/**
 * MCP clients without the SDK, for the peers scenario: a JSON-RPC request written by hand
 * and its answer matched by id, over stdio, WebSocket or Streamable HTTP. The SDK client
 * costs about as much CPU per call as a relay does; these cost a fraction of it, so load
 * from a few processes of them is bounded by the relay, not by the client.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Pool } from 'undici';
import WebSocket from 'ws';

/** One initialized MCP session that calls the `echo` tool. */
export interface RawSession {
  /** One `tools/call` of `echo`; rejects on a JSON-RPC error or an error result. */
  echo(message: string): Promise<void>;
  close(): Promise<void>;
  /** The process a stdio session spawned. */
  readonly pid?: number;
}

/** How to reach an MCP server: spawn it (stdio), or a WebSocket or Streamable HTTP URL, with headers. */
export type Endpoint =
  | { transport: 'stdio'; command: string; args: string[]; cwd?: string; env?: Record<string, string> }
  | { transport: 'ws' | 'http'; url: string; headers?: Record<string, string> };

const PROTOCOL_VERSION = '2025-06-18';
const INITIALIZE = { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'portcullis-bench-raw', version: '1.0.0' } };
const INITIALIZED = '{"jsonrpc":"2.0","method":"notifications/initialized"}';

interface Reply {
  id?: unknown;
  result?: { isError?: boolean };
  error?: { message?: string };
}

function check(reply: Reply): void {
  if (reply.error) throw new Error(`JSON-RPC error: ${reply.error.message ?? JSON.stringify(reply.error)}`);
  if (reply.result?.isError) throw new Error(`echo failed: ${JSON.stringify(reply.result)}`);
}

const callFrame = (id: number, message: string) => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"message":${JSON.stringify(message)}}}}`;

/** A message transport (stdio lines, WebSocket frames) with replies matched to requests by id. */
function framed(send: (frame: string) => void, onReply: (listener: (reply: Reply) => void) => void, close: () => Promise<void>): RawSession & { request(method: string, params: object): Promise<Reply> } {
  const pending = new Map<number, { resolve: (reply: Reply) => void }>();
  let nextId = 1;
  onReply((reply) => {
    const waiter = typeof reply.id === 'number' ? pending.get(reply.id) : undefined;
    if (!waiter) return;
    pending.delete(reply.id as number);
    waiter.resolve(reply);
  });
  const exchange = (id: number, frame: string) =>
    new Promise<Reply>((resolve) => {
      pending.set(id, { resolve });
      send(frame);
    });
  return {
    request: (method, params) => {
      const id = nextId++;
      return exchange(id, JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    },
    echo: async (message) => {
      const id = nextId++;
      check(await exchange(id, callFrame(id, message)));
    },
    close,
  };
}

async function initialized(session: ReturnType<typeof framed>, send: (frame: string) => void): Promise<RawSession> {
  check(await session.request('initialize', INITIALIZE));
  send(INITIALIZED);
  return session;
}

async function stdioSession(endpoint: Extract<Endpoint, { transport: 'stdio' }>): Promise<RawSession> {
  const child = spawn(endpoint.command, endpoint.args, { cwd: endpoint.cwd, env: { ...process.env, ...endpoint.env }, stdio: ['pipe', 'pipe', 'inherit'] });
  const send = (frame: string) => void child.stdin.write(`${frame}\n`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const session = framed(
    send,
    (listener) => createInterface({ input: child.stdout }).on('line', (line) => listener(JSON.parse(line) as Reply)),
    async () => {
      child.stdin.end();
      await exited;
    },
  );
  return initialized(Object.assign(session, { pid: child.pid }), send);
}

async function wsSession(url: string, headers: Record<string, string>): Promise<RawSession> {
  const socket = new WebSocket(url, 'mcp', { headers, perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
    socket.once('unexpected-response', (_req, res) => reject(new Error(`${url}: HTTP ${res.statusCode}`)));
  });
  const send = (frame: string) => socket.send(frame);
  const session = framed(
    send,
    (listener) => socket.on('message', (data: Buffer) => listener(JSON.parse(data.toString()) as Reply)),
    async () => {
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      socket.close();
      await closed;
    },
  );
  return initialized(session, send);
}

/** A JSON-RPC answer from a Streamable HTTP response: the body itself, or the SSE event carrying it. */
function replyOf(contentType: string, body: string): Reply {
  if (contentType.startsWith('application/json')) return JSON.parse(body) as Reply;
  const data = body.split('\n').find((line) => line.startsWith('data:') && line.includes('"id"'));
  if (!data) throw new Error(`no JSON-RPC answer in the event stream: ${body.slice(0, 200)}`);
  return JSON.parse(data.slice('data:'.length)) as Reply;
}

/** Streamable HTTP, one POST per message on a keep-alive pool of `connections` (one per call in flight). */
async function httpSession(url: string, headers: Record<string, string>, connections: number): Promise<RawSession> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections });
  const base: Record<string, string> = { ...headers, 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const post = async (body: string): Promise<{ reply: Reply | null; sessionId: string | undefined }> => {
    const res = await pool.request({ path: target.pathname, method: 'POST', headers: base, body });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${url}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
    const sessionId = res.headers['mcp-session-id'];
    return { reply: text ? replyOf(String(res.headers['content-type'] ?? ''), text) : null, sessionId: typeof sessionId === 'string' ? sessionId : undefined };
  };
  const opened = await post(JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: INITIALIZE }));
  check(opened.reply ?? {});
  if (opened.sessionId) base['mcp-session-id'] = opened.sessionId;
  base['mcp-protocol-version'] = PROTOCOL_VERSION;
  await post(INITIALIZED);
  let nextId = 1;
  return {
    echo: async (message) => {
      const { reply } = await post(callFrame(nextId++, message));
      if (!reply) throw new Error('no answer to tools/call');
      check(reply);
    },
    close: async () => {
      if (opened.sessionId) await pool.request({ path: target.pathname, method: 'DELETE', headers: base }).then((res) => res.body.dump(), () => {});
      await pool.close();
    },
  };
}

/** An initialized session on `endpoint`; `inFlight` is how many calls it will have outstanding at once. */
export function openRawSession(endpoint: Endpoint, inFlight = 1): Promise<RawSession> {
  if (endpoint.transport === 'stdio') return stdioSession(endpoint);
  if (endpoint.transport === 'ws') return wsSession(endpoint.url, endpoint.headers ?? {});
  return httpSession(endpoint.url, endpoint.headers ?? {}, inFlight);
}
