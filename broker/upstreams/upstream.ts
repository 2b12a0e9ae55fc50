import type { McpServerConfig } from '../../server/config/schema.js';
import type { Logger } from '../../server/log.js';
import type { SecretScrubber } from '../../server/text/secret-scrubber.js';
import { StdioUpstream } from './stdio.js';
import { StreamableHttpUpstream } from './streamable-http.js';
import type { HttpAgents } from './streamable-http.js';

/**
 * The seam to an upstream MCP server, shaped like the MCP SDK's Transport: one instance
 * per client session. A new upstream kind is one new file implementing this. Upstream
 * secrets (env, headers) are injected by the implementations and go nowhere else.
 */
export interface Upstream {
  start(): Promise<void>;
  send(message: Record<string, unknown>): Promise<void>;
  /** Stops it; onclose is not called for a close we asked for. */
  close(): Promise<void>;
  /** A message, with the size of the text it came in (for a batch, the whole batch's): what the broker knows of a result's size without serializing it again. */
  onmessage?: (message: unknown, bytes: number) => void;
  /** The upstream ended on its own (crash, exit, connection lost). */
  onclose?: (reason: string) => void;
}

export function createUpstream(server: McpServerConfig, options: { baseDir: string; logger: Logger; scrubber: SecretScrubber; agents: HttpAgents }): Upstream {
  switch (server.transport) {
    case 'stdio':
      return new StdioUpstream(server, options);
    case 'streamable-http':
      return new StreamableHttpUpstream(server, options.agents);
  }
}
