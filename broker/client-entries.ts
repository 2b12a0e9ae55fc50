import { MCP_WS_FEDERATED, MCP_WS_PREFIX } from './endpoint-paths.js';

/**
 * How MCP clients reach the broker by URL: the endpoints under its base URL, and the
 * entry each client takes for one. Pure (no I/O), shared by `portcullis mcp-config` and
 * the `mcpConnection` query, so the CLI and the console print the same thing.
 */

export const MCP_CLIENTS = [
  { client: 'claude-code', label: 'Claude Code' },
  { client: 'vscode', label: 'VS Code' },
  { client: 'cursor', label: 'Cursor' },
  { client: 'claude', label: 'Claude Desktop' },
] as const;

export type McpClientKind = (typeof MCP_CLIENTS)[number]['client'];

/** shell: a command to run; json: a config file entry; text: steps to follow. */
export interface McpClientEntry {
  client: McpClientKind;
  label: string;
  format: 'shell' | 'json' | 'text';
  text: string;
}

/** The Streamable HTTP endpoint of a server (or the federated one), under the broker's base URL. */
export function endpointUrl(broker: string, server: string | undefined): string {
  const base = new URL(broker);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  return new URL(server === undefined ? 'mcp' : `mcp/${encodeURIComponent(server)}`, base).toString();
}

/** The WebSocket endpoint of a server (or the federated one): the bridge's and WebSocket clients' URL. */
export function webSocketUrl(broker: string, server: string | undefined): string {
  const base = new URL(broker);
  base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
  const path = server === undefined ? MCP_WS_FEDERATED : `${MCP_WS_PREFIX}${encodeURIComponent(server)}`;
  base.pathname = `${base.pathname.replace(/\/+$/, '')}${path}`;
  return base.toString();
}

/** The URL form of the entry, as `client` writes it; `name` is what the client calls the server. */
export function urlEntry(client: McpClientKind, name: string, url: string): McpClientEntry {
  const { label } = MCP_CLIENTS.find((c) => c.client === client)!;
  switch (client) {
    case 'claude-code':
      return { client, label, format: 'shell', text: ['claude', 'mcp', 'add', '--transport', 'http', name, url].map(shellWord).join(' ') };
    case 'vscode':
      return { client, label, format: 'json', text: JSON.stringify({ servers: { [name]: { type: 'http', url } } }, null, 2) };
    case 'cursor':
      return { client, label, format: 'json', text: JSON.stringify({ mcpServers: { [name]: { url } } }, null, 2) };
    case 'claude':
      // Claude Desktop's config file takes stdio servers only; remote ones are added in its settings.
      return {
        client,
        label,
        format: 'text',
        text: `Claude Desktop takes a URL only in Settings > Connectors: choose Add custom connector, name it ${name}, and enter ${url}. Claude Desktop then signs you in through the broker in your browser.`,
      };
  }
}

/** Every client's URL entry for one endpoint. */
export function urlEntries(name: string, url: string): McpClientEntry[] {
  return MCP_CLIENTS.map(({ client }) => urlEntry(client, name, url));
}

/** A word a POSIX shell reads back as it is (single-quoted unless plainly safe). */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
