import { createHash } from 'node:crypto';
import type { AccessEvents } from '../server/access/access-events.js';
import type { AuditLog } from '../server/audit/types.js';
import type { Clock } from '../server/clock.js';
import type { Logger } from '../server/log.js';
import type { ToolDefinitionSeen, ToolPinStore } from '../server/stores/types.js';
import { isRecord } from './core/json.js';

/** Per server (servers[].toolPinning): hide and refuse changed tools, only audit the change, or do nothing. */
export type ToolPinningMode = 'pin' | 'warn' | 'off';

/**
 * The fields of a tool definition that are pinned: what a model reads to decide what the
 * tool does and what it is given (a "rug pull" rewrites these after people were granted
 * the tool). Anything else (`_meta`, `icons`, `execution`) may change freely.
 */
const PINNED_FIELDS = ['name', 'title', 'description', 'inputSchema', 'outputSchema', 'annotations'] as const;
/** Longest definition the store keeps (the hash covers the whole). */
export const MAX_STORED_DEFINITION_CHARS = 16_384;
/** Nesting past which a definition is serialised as sent rather than with sorted keys. */
const MAX_CANONICAL_DEPTH = 64;
/** Text of the definitions whose hash an instance remembers (keyed by their text as the server sent them); the oldest go first. */
const MAX_REMEMBERED_CHARS = 8 * 1024 * 1024;
/** Changed definitions an instance remembers having checked; one is asked about again after this long (accepted elsewhere, its event lost). */
const MAX_CHANGED = 10_000;
const RECHECK_CHANGED_MS = 30_000;

/** JSON with object keys sorted at every level, so one definition has one text whatever order its server writes. */
function canonicalJson(value: unknown, depth = 0): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v, depth + 1)).join(',')}]`;
  if (!isRecord(value) || depth > MAX_CANONICAL_DEPTH) return JSON.stringify(value) ?? 'null';
  const keys = Object.keys(value).filter((k) => value[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k], depth + 1)}`).join(',')}}`;
}

/** The pinned part of a tool definition, as canonical JSON. */
export function pinnedDefinition(tool: Record<string, unknown>): string {
  return canonicalJson(Object.fromEntries(PINNED_FIELDS.filter((f) => tool[f] !== undefined).map((f) => [f, tool[f]])));
}

export function definitionHash(canonical: string): string {
  return createHash('sha256').update(canonical).digest('hex');
}

interface ToolPinningDeps {
  store: ToolPinStore;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  events: Pick<AccessEvents, 'onToolChangeAccepted'>;
  mode: (server: string) => ToolPinningMode;
  /** A server's pinned tools changed (a change was accepted): its live sessions may show a tool again. */
  onPinsChanged: (server: string) => void;
}

/** The mode of each configured server (servers[].toolPinning; pin for one not configured). */
export function configuredModes(servers: readonly { name: string; toolPinning: ToolPinningMode }[]): (server: string) => ToolPinningMode {
  const modes = new Map(servers.map((s) => [s.name, s.toolPinning]));
  return (server) => modes.get(server) ?? 'pin';
}

/** Who saw a listing: named in the `mcp.tool.changed` event it causes. */
export interface Viewer {
  actor: string;
  sessionId: string;
}

/**
 * Tool pinning for every session of this instance. Each tools/list answer is checked
 * against the pins: a definition's hash is computed once per distinct text (remembered by
 * instance), and the store is asked only about a tool this instance has not seen pinned
 * under that hash, so a steady state costs one stringify and two map lookups per tool per
 * listing, and a tools/call costs two map lookups and no store round trip. The store
 * decides atomically across instances (first writer pins; one of them records a change and
 * audits it, once). An accepted change reaches every instance on the event bus (a hint: a
 * change believed pending is re-read from the store at most every 30 s anyway).
 */
export class ToolPinning {
  private readonly hashes = new Map<string, ToolDefinitionSeen>();
  private rememberedChars = 0;
  /** The pinned hash per `server\0tool`, as last read from the store. */
  private readonly pins = new Map<string, string>();
  /** Definitions (`server\0tool\0hash`) the store said differ from the pin, and when. */
  private readonly changed = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private readonly unsubscribe: () => void;

  constructor(private readonly deps: ToolPinningDeps) {
    this.unsubscribe = deps.events.onToolChangeAccepted(({ server, tool, hash }) => {
      this.pins.set(pinKey(server, tool), hash);
      this.changed.clear();
      deps.onPinsChanged(server);
    });
  }

  mode(server: string): ToolPinningMode {
    return this.deps.mode(server);
  }

  /**
   * One page of a server's tools/list answer: records the hash of each tool in `seen` (the
   * session's own record of what its client was shown) and returns the tools the client
   * may see (in pin mode, those whose definition is the pinned one).
   */
  async screen(server: string, tools: unknown[], seen: Map<string, string>, viewer: Viewer): Promise<unknown[]> {
    const mode = this.mode(server);
    if (mode === 'off') return tools;
    const shown = tools.map((tool) => {
      if (!isRecord(tool) || typeof tool.name !== 'string') return true;
      const definition = this.definitionOf(tool);
      seen.set(tool.name, definition.hash);
      return this.allows(server, tool.name, definition.hash) || this.check(server, tool.name, definition, viewer);
    });
    const verdicts = shown.some((v) => v instanceof Promise) ? await Promise.all(shown) : (shown as boolean[]);
    return mode === 'warn' ? tools : tools.filter((_, i) => verdicts[i]);
  }

  /** Whether a definition with this hash is the tool's pin, as this instance knows it (no store round trip). */
  allows(server: string, tool: string, hash: string | undefined): boolean {
    return hash !== undefined && this.pins.get(pinKey(server, tool)) === hash;
  }

  /**
   * Settles once a check of this definition against the store that is under way has
   * answered (at once when none is): the listing that recorded a hash on a session may be
   * another request's, whose check (the tool's first sight, say) has not answered yet.
   */
  async checked(server: string, tool: string, hash: string): Promise<void> {
    await this.inflight.get(flightKey(server, tool, hash));
  }

  close(): void {
    this.unsubscribe();
  }

  private definitionOf(tool: Record<string, unknown>): ToolDefinitionSeen {
    // Keyed by the text as sent (cheap, native); canonicalised and hashed once per distinct text.
    const text = JSON.stringify(tool);
    const known = this.hashes.get(text);
    if (known) return known;
    const canonical = pinnedDefinition(tool);
    const truncated = canonical.length > MAX_STORED_DEFINITION_CHARS;
    const definition = { hash: definitionHash(canonical), definition: truncated ? canonical.slice(0, MAX_STORED_DEFINITION_CHARS) : canonical, truncated, at: 0 };
    for (const oldest of this.hashes.keys()) {
      if (this.rememberedChars + text.length <= MAX_REMEMBERED_CHARS) break;
      this.hashes.delete(oldest);
      this.rememberedChars -= oldest.length;
    }
    this.hashes.set(text, definition);
    this.rememberedChars += text.length;
    return definition;
  }

  /** Asks the store (once at a time per definition): true when this definition is the pin. */
  private check(server: string, tool: string, definition: ToolDefinitionSeen, viewer: Viewer): Promise<boolean> | boolean {
    const flight = flightKey(server, tool, definition.hash);
    // A change already recorded: hidden without asking again, until a re-read is due.
    const changedAt = this.changed.get(flight);
    if (changedAt !== undefined && this.deps.clock.now() - changedAt < RECHECK_CHANGED_MS) return false;
    const running = this.inflight.get(flight);
    if (running) return running;
    const asked = this.ask(server, tool, definition, viewer, flight).finally(() => this.inflight.delete(flight));
    this.inflight.set(flight, asked);
    return asked;
  }

  private async ask(server: string, tool: string, definition: ToolDefinitionSeen, viewer: Viewer, flight: string): Promise<boolean> {
    const now = this.deps.clock.now();
    try {
      const answer = await this.deps.store.check(server, tool, { ...definition, at: now });
      if (answer.verdict === 'full') {
        this.deps.logger.warn({ server, tool }, 'the server has more tools than can be pinned: the tool is hidden in pin mode');
        return false;
      }
      if (answer.verdict === 'pinned') {
        this.pins.set(pinKey(server, tool), definition.hash);
        return true;
      }
      this.pins.set(pinKey(server, tool), answer.pinnedHash);
      if (this.changed.size >= MAX_CHANGED) this.changed.delete(this.changed.keys().next().value!);
      this.changed.set(flight, now);
      if (answer.recorded) await this.auditChange(server, tool, answer.pinnedHash, definition, viewer);
      return false;
    } catch (error) {
      // Pins that cannot be read are not pins: hidden (refused) in pin mode, shown in warn mode.
      this.deps.logger.warn({ err: error, server, tool }, 'could not check a tool against its pin');
      return false;
    }
  }

  private async auditChange(server: string, tool: string, oldHash: string, seen: ToolDefinitionSeen, viewer: Viewer): Promise<void> {
    const mode = this.mode(server);
    await this.deps.audit.append({
      type: 'mcp.tool.changed',
      outcome: 'SUCCESS',
      actor: null,
      server,
      tool,
      sessionId: viewer.sessionId,
      data: { oldHash, newHash: seen.hash, definition: seen.truncated ? seen.definition : (JSON.parse(seen.definition) as unknown), seenBy: viewer.actor, mode, served: mode === 'warn' },
      bounded: ['definition'],
    });
  }
}

function pinKey(server: string, tool: string): string {
  return `${server}\u0000${tool}`;
}

/** A check of one definition of a tool: at most one asks the store at a time. */
function flightKey(server: string, tool: string, hash: string): string {
  return `${pinKey(server, tool)}\u0000${hash}`;
}
