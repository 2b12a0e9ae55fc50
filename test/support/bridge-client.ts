import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { saveCredentials } from '../../clients/cli/credentials.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { StdioServerParameters } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { ClientCapabilities } from '@modelcontextprotocol/sdk/types.js';

/** `portcullis` from source, as `node` arguments. */
export const CLI = ['--import', 'tsx', 'clients/cli/main.ts'];

export interface BridgeClient {
  /** The official SDK client, not yet connected: `client.connect(transport)` runs initialize. */
  client: Client;
  transport: StdioClientTransport;
  /** Everything the process wrote on stderr so far. */
  stderr(): string;
  /** Settles once the process has ended (or the client closed it). */
  ended: Promise<void>;
}

/** An SDK client over stdio to a process, started the way an MCP client starts a server. */
export function stdioClient(params: StdioServerParameters, capabilities: ClientCapabilities = {}): BridgeClient {
  const transport = new StdioClientTransport({ ...params, stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'bridge-test', version: '1.0.0' }, { capabilities });
  const ended = new Promise<void>((resolve) => (client.onclose = resolve));
  return { client, transport, stderr: () => stderr, ended };
}

/** `portcullis connect <args>` from source, with only `env` (and PATH) in its environment. */
export function bridgeClient(args: string[], env: Record<string, string>): BridgeClient {
  return stdioClient({ command: process.execPath, args: [...CLI, 'connect', ...args], env: { PATH: process.env.PATH ?? '', XDG_CONFIG_HOME: '/nonexistent', ...env } });
}

/** A `portcullis login` result for `broker` in `configHome` (an XDG_CONFIG_HOME), as the person's own would be. */
export function saveLogin(configHome: string, broker: string, token: string, tokenId = 'bridge-test'): void {
  saveCredentials({ broker, token, tokenId, email: 'alice@example.com', expiresAt: new Date(Date.now() + 3_600_000).toISOString() }, { XDG_CONFIG_HOME: configHome });
}
