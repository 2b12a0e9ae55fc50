/**
 * The benchmark's upstream MCP server: one trivial `echo` tool, so that "direct" and
 * "through the broker" differ by the broker alone. `stdio` speaks on stdin/stdout;
 * `http` serves Streamable HTTP on a free loopback port (one MCP session per client,
 * JSON responses rather than SSE, the cheapest reply the transport offers) and prints
 * `listening <port>` on stdout.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { z } from 'zod';
import { serveMcpOverHttp } from './mcp-http-server.js';

function echoServer(): McpServer {
  const server = new McpServer({ name: 'bench-upstream', version: '1.0.0' });
  server.registerTool('echo', { description: 'Returns its message.', inputSchema: { message: z.string() } }, ({ message }) => ({
    content: [{ type: 'text', text: message }],
  }));
  return server;
}

async function serveHttp(): Promise<void> {
  const { port } = await serveMcpOverHttp(() => echoServer());
  process.stdout.write(`listening ${port}\n`);
  // The parent holds our stdin: when it goes, whatever way it went, so do we.
  process.stdin.once('close', () => process.exit(0)).resume();
}

if (process.argv[2] === 'http') await serveHttp();
else await echoServer().connect(new StdioServerTransport());
