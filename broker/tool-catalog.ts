import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerConfig } from '../server/config/schema.js';
import type { Logger } from '../server/log.js';
import type { SecretScrubber } from '../server/text/secret-scrubber.js';
import { isRecord } from './core/json.js';
import { writableByName } from './core/leg.js';
import { classifyUpstream } from './jsonrpc.js';
import { createHttpAgents } from './upstreams/streamable-http.js';
import type { HttpAgents } from './upstreams/streamable-http.js';
import { createUpstream } from './upstreams/upstream.js';

/** A tool as its server describes it. */
export interface ToolDefinition {
  name: string;
  title?: string;
  description?: string;
  inputSchema?: unknown;
  annotations?: Record<string, unknown>;
}

/** How long a server may take to describe its tools. */
const CATALOG_TIMEOUT_MS = 15_000;
/** Pages of tools read before giving up on a server that never stops paging. */
const MAX_PAGES = 50;
/** How long a description stays good (approvals in a row reuse it; a tool change shows soon). */
const FRESH_MS = 10_000;

/** What the catalog may believe of a page of a server's tools (ToolPinning.screen: in pin mode, only those whose definition is the pinned one). */
export type ToolScreen = (server: string, tools: unknown[]) => Promise<unknown[]>;

/**
 * What the configured servers offer, read by the broker itself (a session of its own,
 * never a person's): for read-only grants, which tools are read-only when a grant is made.
 * Held to the tool pins as people's sessions are: a server could tell this session apart
 * and call a tool read-only only here, where no one's pin would notice.
 */
export class ToolCatalog {
  private readonly agents: HttpAgents = createHttpAgents();
  private readonly cache = new Map<string, { at: number; tools: Promise<ToolDefinition[]> }>();

  constructor(private readonly deps: { servers: readonly McpServerConfig[]; baseDir: string; logger: Logger; scrubber: SecretScrubber; now: () => number; screen: ToolScreen }) {}

  /** The server's tools, as it describes them now (or within the last few seconds). */
  tools(serverName: string): Promise<ToolDefinition[]> {
    const cached = this.cache.get(serverName);
    if (cached && this.deps.now() - cached.at < FRESH_MS) return cached.tools;
    const server = this.deps.servers.find((s) => s.name === serverName);
    if (!server) return Promise.reject(new Error(`unknown server ${serverName}`));
    // Why it failed may quote the server (its error, its exit): never a secret we gave it.
    const tools = this.read(server).catch((error: unknown) => {
      throw new Error(this.deps.scrubber.scrub(error instanceof Error ? error.message : String(error)));
    });
    this.cache.set(serverName, { at: this.deps.now(), tools });
    tools.catch(() => this.cache.delete(serverName));
    return tools;
  }

  /**
   * The tools of a server that are read-only now: those its description marks
   * `readOnlyHint: true` and those the operator lists. Annotations are the server's word;
   * when the server cannot be read, only the operator's list counts (fewer tools, never more).
   */
  async readOnlyTools(serverName: string): Promise<string[]> {
    const listed = this.deps.servers.find((s) => s.name === serverName)?.readOnlyTools ?? [];
    const described = await this.tools(serverName).catch((error: unknown) => {
      this.deps.logger.warn({ err: error, server: serverName }, 'could not read the tools of a server: a read-only grant covers only its operator-listed read-only tools');
      return [];
    });
    // Judged as a session judges a listing: a name listed twice is read-only only when every definition of it says so.
    const readOnlyDescribed = [...writableByName(described, new Set(listed))].filter(([, writable]) => !writable).map(([name]) => name);
    return [...new Set([...listed, ...readOnlyDescribed])].sort();
  }

  async close(): Promise<void> {
    await Promise.all([this.agents.http.destroy(), this.agents.https.destroy()]);
  }

  private async read(server: McpServerConfig): Promise<ToolDefinition[]> {
    const upstream = createUpstream(server, { baseDir: this.deps.baseDir, logger: this.deps.logger, scrubber: this.deps.scrubber, agents: this.agents });
    const waiting = new Map<number, { resolve: (result: Record<string, unknown>) => void; reject: (error: Error) => void }>();
    let nextId = 1;
    let failure: Error | undefined;
    upstream.onmessage = (value, bytes) => {
      // Held to what a session's are (a message too deep to write out again is an error answer or nothing).
      const { message } = classifyUpstream(value, bytes);
      if ((message?.kind !== 'result' && message?.kind !== 'error') || typeof message.id !== 'number') return;
      const pending = waiting.get(message.id);
      waiting.delete(message.id);
      if (message.kind === 'result') pending?.resolve(message.result);
      else pending?.reject(new Error(`the server answered ${JSON.stringify(message.error).slice(0, 200)}`));
    };
    upstream.onclose = (reason) => {
      failure = new Error(reason);
      for (const pending of waiting.values()) pending.reject(failure);
    };
    const request = (method: string, params: Record<string, unknown>) =>
      new Promise<Record<string, unknown>>((resolve, reject) => {
        if (failure) return reject(failure);
        const id = nextId++;
        waiting.set(id, { resolve, reject });
        upstream.send({ jsonrpc: '2.0', id, method, params }).catch(reject);
      });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no tool list from ${server.name} within ${CATALOG_TIMEOUT_MS / 1000} s`)), CATALOG_TIMEOUT_MS);
    });
    try {
      return await Promise.race([
        (async () => {
          await upstream.start();
          await request('initialize', { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'portcullis-catalog', version: '1' } });
          await upstream.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
          const tools: ToolDefinition[] = [];
          let cursor: string | undefined;
          for (let page = 0; page < MAX_PAGES; page++) {
            const result = await request('tools/list', cursor === undefined ? {} : { cursor });
            const page = Array.isArray(result.tools) ? await this.deps.screen(server.name, result.tools) : [];
            tools.push(...page.filter((t): t is ToolDefinition => isRecord(t) && typeof t.name === 'string'));
            if (typeof result.nextCursor !== 'string') break;
            cursor = result.nextCursor;
          }
          return tools;
        })(),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
      await upstream.close().catch(() => {});
    }
  }
}
