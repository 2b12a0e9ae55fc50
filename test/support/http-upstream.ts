import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface Upstream {
  url: string;
  requests: { method: string; headers: IncomingHttpHeaders }[];
  /** What the `say` tool was called with, in order: what the broker forwarded. */
  said: string[];
  /** Server-side MCP servers, one per session, to make them speak unasked. */
  servers: McpServer[];
  closedSessions: string[];
  server: Server;
}

/** An MCP server over Streamable HTTP (the SDK's), answering with JSON or with SSE streams. */
export async function startUpstream(mode: 'json' | 'sse', redirect = false): Promise<Upstream> {
  const upstream: Upstream = { url: '', requests: [], said: [], servers: [], closedSessions: [], server: undefined as unknown as Server };
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  upstream.server = createServer((req, res) => {
    upstream.requests.push({ method: req.method ?? '', headers: req.headers });
    if (redirect) return void res.writeHead(307, { location: 'http://127.0.0.1:9/elsewhere' }).end();
    const id = req.headers['mcp-session-id'];
    const known = typeof id === 'string' ? sessions.get(id) : undefined;
    if (known) return void known.handleRequest(req, res);
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: mode === 'json',
      onsessioninitialized: (sessionId) => void sessions.set(sessionId, transport),
      onsessionclosed: (sessionId) => void upstream.closedSessions.push(sessionId),
    });
    const mcp = new McpServer({ name: 'http-upstream', version: '1.0.0' });
    mcp.registerTool('say', { inputSchema: { text: z.string() } }, ({ text }) => {
      upstream.said.push(text);
      return { content: [{ type: 'text', text }] };
    });
    upstream.servers.push(mcp);
    void mcp.connect(transport).then(() => transport.handleRequest(req, res));
  });
  await new Promise<void>((resolve) => upstream.server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}/mcp`;
  return upstream;
}
