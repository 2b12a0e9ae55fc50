import { toolId } from '../types.js';
import type { Observation } from '../types.js';
import { HOUR_MS } from './time.js';
import { forgetKey, recencySet, touch } from './recency-set.js';
import type { RecencySet } from './recency-set.js';

/** The servers and tools (toolId) someone (a person, a role) has used, each bounded. */
export interface FirstUseState {
  servers: RecencySet;
  tools: RecencySet;
  /** The server used for the first time last, and when: its tools are part of that first use. */
  newServer: string | null;
  newServerAt: number;
}

export function firstUseState(): FirstUseState {
  return { servers: recencySet(), tools: recencySet(), newServer: null, newServerAt: 0 };
}

export interface FirstUse {
  what: 'server' | 'tool';
  server: string;
  tool: string | null;
}

/**
 * Records a use (a session on a server, a call to it) and says what it used for the first
 * time. A new server's first tools, within the hour, are part of the server's first use:
 * one finding for someone trying a new server, not one per tool they call on it.
 */
export function recordUse(state: FirstUseState, observation: Observation, maxTools: number, maxServers: number): FirstUse | null {
  const { server, tool, at } = observation;
  if (server === null || (observation.kind !== 'call' && observation.kind !== 'session')) return null;
  const key = tool === null ? null : toolId(server, tool);
  const newTool = key !== null && !adoptedAsSent(state.tools, `${server}/${tool}`, key, at, maxTools) && touch(state.tools, key, at, maxTools);
  if (touch(state.servers, server, at, maxServers)) {
    state.newServer = server;
    state.newServerAt = at;
    return { what: 'server', server, tool };
  }
  if (!newTool || (state.newServer === server && at - state.newServerAt < HOUR_MS)) return null;
  return { what: 'tool', server, tool };
}

/**
 * A tool a version before toolId recorded under its name as sent (`srv/getUser`): known, so
 * recorded under its toolId now. Else every mixed-case tool would be a first use again after
 * an upgrade, for every person and role at once.
 */
export function adoptedAsSent(set: RecencySet, asSent: string, key: string, at: number, max: number): boolean {
  if (asSent === key || !Object.hasOwn(set.last, asSent)) return false;
  forgetKey(set, asSent);
  touch(set, key, at, max);
  return true;
}

/** What was known before: how many servers, and tools on this server (counted only when there is a finding to explain). */
export function knownBefore(state: FirstUseState, use: FirstUse): { knownServers: number; knownToolsOnServer: number } {
  let tools = 0;
  const prefix = `${use.server}/`;
  for (const key in state.tools.last) if (key.startsWith(prefix)) tools++;
  return { knownServers: state.servers.size - 1, knownToolsOnServer: tools - (use.tool === null ? 0 : 1) };
}

export function useText(use: FirstUse): string {
  return use.what === 'server' ? `server ${use.server}${use.tool === null ? '' : ` (tool ${use.tool})`}` : `tool ${use.tool} on ${use.server}`;
}
