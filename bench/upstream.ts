/**
 * The benchmark's upstream MCP server: one trivial `echo` tool, so that "direct" and
 * "through the broker" differ by the broker alone. `stdio` speaks on stdin/stdout;
 * `http` serves Streamable HTTP on a free loopback port (one MCP session per client,
 * JSON responses rather than SSE, the cheapest reply the transport offers) and prints
 * `listening <port>` on stdout.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

function echoServer(): McpServer {
  const server = new McpServer({ name: 'bench-upstream', version: '1.0.0' });
  server.registerTool('echo', { description: 'Returns its message.', inputSchema: { message: z.string() } }, ({ message }) => ({
    content: [{ type: 'text', text: message }],
  }));
  return server;
}

async function serveHttp(): Promise<void> {
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const id = req.headers['mcp-session-id'];
    const known = typeof id === 'string' ? sessions.get(id) : undefined;
    if (known) return known.handleRequest(req, res);
    if (id !== undefined) return void res.writeHead(404).end();
    // No session id: only an initialize may open one (the transport refuses anything else).
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: true,
      onsessioninitialized: (sessionId) => void sessions.set(sessionId, transport),
    });
    transport.onclose = () => void (transport.sessionId && sessions.delete(transport.sessionId));
    await echoServer().connect(transport);
    await transport.handleRequest(req, res);
  };
  // Thousands of idle sessions hold a GET stream each: no request or keep-alive timeout.
  const http = createServer({ requestTimeout: 0, keepAliveTimeout: 60_000 }, (req, res) => {
    handle(req, res).catch(() => res.headersSent || res.writeHead(500).end());
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`listening ${(http.address() as AddressInfo).port}\n`);
  // The parent holds our stdin: when it goes, whatever way it went, so do we.
  process.stdin.once('close', () => process.exit(0)).resume();
}

if (process.argv[2] === 'http') await serveHttp();
else await echoServer().connect(new StdioServerTransport());
