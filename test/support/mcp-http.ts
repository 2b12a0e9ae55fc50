/** Raw Streamable HTTP requests to a broker endpoint, for what an SDK client never sends or never shows. */

export const INITIALIZE = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };
export const BOTH = 'application/json, text/event-stream';

export interface RawOptions {
  token?: string;
  session?: string;
  accept?: string;
  headers?: Record<string, string>;
  method?: string;
}

/** One request; the body (when given) is sent as JSON unless it is already text. */
export function mcpFetch(url: string, body: unknown, options: RawOptions = {}): Promise<Response> {
  const headers: Record<string, string> = {
    accept: options.accept ?? BOTH,
    'content-type': 'application/json',
    ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
    ...(options.session === undefined ? {} : { 'mcp-session-id': options.session, 'mcp-protocol-version': '2025-11-25' }),
    ...options.headers,
  };
  return fetch(url, { method: options.method ?? (body === undefined ? 'GET' : 'POST'), headers, ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
}

/** Opens a session answered in JSON and sends notifications/initialized; its id. */
export async function openSession(url: string, token: string, protocolVersion = '2025-11-25'): Promise<string> {
  const res = await mcpFetch(url, { ...INITIALIZE, params: { ...INITIALIZE.params, protocolVersion } }, { token, accept: 'application/json' });
  if (res.status !== 200) throw new Error(`initialize: HTTP ${res.status} ${await res.text()}`);
  const session = res.headers.get('mcp-session-id')!;
  await res.json();
  const initialized = await mcpFetch(url, { jsonrpc: '2.0', method: 'notifications/initialized' }, { token, session });
  if (initialized.status !== 202) throw new Error(`initialized: HTTP ${initialized.status}`);
  return session;
}

export interface SseEvent {
  id?: string;
  data: unknown;
}

/** Reads `count` message events off an SSE response (comments and empty events passed over), then lets the stream go. */
export async function sseEvents(res: Response, count: number): Promise<SseEvent[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const events: SseEvent[] = [];
  let buffer = '';
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end: number;
    while ((end = buffer.indexOf('\n\n')) !== -1) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const lines = block.split('\n');
      const data = lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6));
      if (data.length === 0) continue;
      const id = lines.find((l) => l.startsWith('id: '))?.slice(4);
      events.push({ ...(id === undefined ? {} : { id }), data: JSON.parse(data.join('\n')) });
    }
  }
  await reader.cancel();
  return events;
}
