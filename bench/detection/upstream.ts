/**
 * The workload's upstream: every catalog server as one MCP server over Streamable HTTP
 * (`/mcp/<server>`), in this process. Tools answer with text whose size the call decides,
 * as real ones do: an export returns `limit` rows, a path to an archive (`.tar`) returns
 * the archive, anything else a few hundred bytes to a few KB.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { serveMcpOverHttp } from '../mcp-http-server.js';
import type { McpHttpServer } from '../mcp-http-server.js';
import { SERVERS } from './catalog.js';
import type { ToolSpec } from './catalog.js';

const ROW_BYTES = 256;
const DEFAULT_ROWS = 200;
const ARCHIVE_BYTES = 600 * 1024;

/** Every tool takes the same optional arguments: which ones a call fills depends on the tool's kind. */
const ARGUMENTS = { query: z.string().optional(), id: z.string().optional(), path: z.string().optional(), title: z.string().optional(), text: z.string().optional(), limit: z.number().int().optional() };
type Arguments = { [K in keyof typeof ARGUMENTS]?: z.infer<(typeof ARGUMENTS)[K]> };

function resultBytes(spec: ToolSpec, args: Arguments): number {
  if (spec.result === 'rows') return (args.limit ?? DEFAULT_ROWS) * ROW_BYTES;
  if (args.path?.endsWith('.tar')) return ARCHIVE_BYTES;
  // Stable per argument value, so a user's repeated call gets the same answer.
  const key = JSON.stringify(args);
  let h = 0;
  for (let i = 0; i < key.length; i++) h = (h * 31 + key.charCodeAt(i)) | 0;
  return 200 + (Math.abs(h) % 3000);
}

function mcpServer(name: string, tools: readonly ToolSpec[]): McpServer {
  const server = new McpServer({ name: `workload-${name}`, version: '1.0.0' });
  for (const spec of tools) {
    server.registerTool(spec.name, { description: `${spec.name.replaceAll('_', ' ')} on ${name}`, inputSchema: ARGUMENTS }, (args) => ({
      content: [{ type: 'text', text: 'x'.repeat(resultBytes(spec, args)) }],
    }));
  }
  return server;
}

export interface WorkloadUpstream extends McpHttpServer {
  /** The URL of one catalog server. */
  url(server: string): string;
}

/** In this process: a replay instant waits on every call's round trip, and loopback between processes costs more wall time here than the CPU it spreads. */
export async function startWorkloadUpstream(): Promise<WorkloadUpstream> {
  const http = await serveMcpOverHttp((path) => {
    const name = /^\/mcp\/([a-z]+)$/.exec(path)?.[1];
    const tools = name === undefined ? undefined : SERVERS[name];
    return tools ? mcpServer(name!, tools) : null;
  });
  return { ...http, url: (server) => `http://127.0.0.1:${http.port}/mcp/${server}` };
}
