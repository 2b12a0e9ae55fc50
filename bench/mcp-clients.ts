import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { BrokerWebSocketTransport } from '../clients/mcp/websocket-client-transport.js';
import type { UpstreamName } from './deployment.js';
import { STDIO_UPSTREAM } from './processes.js';

/**
 * The same MCP SDK client on every path, so "direct" and "brokered" differ only in what
 * carries the messages: the upstream's own transport, or the broker's WebSocket or
 * Streamable HTTP front door.
 */
async function connect(transport: Transport): Promise<Client> {
  const client = new Client({ name: 'portcullis-bench', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

export const directHttp = (url: string) => connect(new StreamableHTTPClientTransport(new URL(url)));

export const directStdio = () => connect(new StdioClientTransport(STDIO_UPSTREAM));

export const brokered = (wsUrl: string, server: UpstreamName, token: string) =>
  connect(new BrokerWebSocketTransport(`${wsUrl}/mcp/ws/${server}`, { authorization: `Bearer ${token}` }));

/** The broker's Streamable HTTP front door for a server, with a bearer token (an API token or an OAuth access token). */
export const brokeredHttp = (baseUrl: string, server: UpstreamName, token: string) =>
  connect(new StreamableHTTPClientTransport(new URL(`${baseUrl}/mcp/${server}`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));

/** One call of the trivial tool; rejects on an error result, so a refused call never counts as done. */
export async function echo(client: Client, message: string): Promise<void> {
  const result = await client.callTool({ name: 'echo', arguments: { message } });
  if (result.isError) throw new Error(`echo failed: ${JSON.stringify(result.content)}`);
}

export async function closeAll(clients: readonly Client[]): Promise<void> {
  await Promise.all(clients.map((c) => c.close().catch(() => {})));
}
