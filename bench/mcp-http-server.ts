import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';

export interface McpHttpServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Serves MCP over Streamable HTTP on a free loopback port: one MCP session per client,
 * JSON responses rather than SSE (the cheapest reply the transport offers). `serverFor`
 * makes the MCP server a new session talks to, from the request path (null: 404).
 */
export async function serveMcpOverHttp(serverFor: (path: string) => McpServer | null): Promise<McpHttpServer> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const id = req.headers['mcp-session-id'];
    const known = typeof id === 'string' ? sessions.get(id) : undefined;
    if (known) return known.handleRequest(req, res);
    if (id !== undefined) return void res.writeHead(404).end();
    const server = serverFor(new URL(req.url ?? '/', 'http://upstream').pathname);
    if (!server) return void res.writeHead(404).end();
    // No session id: only an initialize may open one (the transport refuses anything else).
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (sessionId) => void sessions.set(sessionId, transport),
    });
    transport.onclose = () => void (transport.sessionId && sessions.delete(transport.sessionId));
    await server.connect(transport);
    await transport.handleRequest(req, res);
  };
  // Thousands of idle sessions hold a GET stream each: no request or keep-alive timeout.
  const http = createServer({ requestTimeout: 0, keepAliveTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch(() => res.headersSent || res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    port: (http.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}

