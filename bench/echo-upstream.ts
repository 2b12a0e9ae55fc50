/**
 * The cheapest MCP server over stdio (issue 22, point 2): no SDK, no schema validation, one
 * `echo` tool; initialize, tools/list and tools/call answered straight from the parsed line,
 * notifications ignored. It costs so little per call that a relay in front of it, not the
 * upstream, is what a throughput figure measures.
 */
import { createInterface } from 'node:readline';

interface Request {
  id?: string | number;
  method?: string;
  params?: { protocolVersion?: string; arguments?: { message?: unknown } };
}

const TOOLS = { tools: [{ name: 'echo', description: 'Returns its message.', inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] } }] };

function answer(request: Request): unknown {
  switch (request.method) {
    case 'initialize':
      return { result: { protocolVersion: request.params?.protocolVersion ?? '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'bench-echo', version: '1.0.0' } } };
    case 'tools/list':
      return { result: TOOLS };
    case 'tools/call':
      return { result: { content: [{ type: 'text', text: String(request.params?.arguments?.message ?? '') }] } };
    case 'ping':
      return { result: {} };
    default:
      return { error: { code: -32601, message: 'method not found' } };
  }
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const request = JSON.parse(line) as Request;
  if (request.id === undefined) return;
  process.stdout.write(`${JSON.stringify({ jsonrpc: '2.0', id: request.id, ...(answer(request) as object) })}\n`);
});
