import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerConfig } from '../../server/config/schema.js';
import type { Upstream } from './upstream.js';

type HttpServer = Extract<McpServerConfig, { transport: 'streamable-http' }>;

/**
 * An upstream reached over MCP Streamable HTTP (the SDK's client transport), one MCP
 * session per client session, with the configured headers (credentials) on every request.
 */
export class StreamableHttpUpstream implements Upstream {
  onmessage?: (message: unknown) => void;
  onclose?: (reason: string) => void;
  private readonly transport: StreamableHTTPClientTransport;
  private closing = false;

  constructor(server: HttpServer) {
    this.transport = new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: server.headers, redirect: 'error' } });
    this.transport.onmessage = (message) => this.onmessage?.(message);
    this.transport.onclose = () => {
      if (!this.closing) this.onclose?.('upstream connection closed');
    };
    this.transport.onerror = () => {
      // Failed sends reject send(); stream errors end in onclose.
    };
  }

  start(): Promise<void> {
    return this.transport.start();
  }

  send(message: Record<string, unknown>): Promise<void> {
    return this.transport.send(message as JSONRPCMessage);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.transport.terminateSession().catch(() => {});
    await this.transport.close();
  }
}
