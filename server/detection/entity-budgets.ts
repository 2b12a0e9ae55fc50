import { tagOf } from './person-tag.js';
import { entityKey } from './types.js';
import type { EntityState } from './types.js';

/**
 * How `detection.maxEntities` is shared, and which entity leaves the store first. Tool
 * entities are named by the caller: a wildcard grant on a single-server endpoint lets any
 * name through to the upstream (which answers "unknown tool"), each a new entity. Users and
 * roles are named by the IdP and the config. Under one budget, one person's made-up tools
 * pushed everyone else's state out, resetting their baselines to the warm-up, where their
 * outliers go unseen. So each pool has its own budget and evicts within itself only.
 */
export type EntityPool = 'tools' | 'principals';
export const ENTITY_POOLS: readonly EntityPool[] = ['tools', 'principals'];

/** Tools may hold a quarter: a deployment's tool catalogs are far smaller than the people and roles using them. */
const TOOL_SHARE = 0.25;

const TOOL_KEY_PREFIX = entityKey('tool', '');

export function poolOf(key: string): EntityPool {
  return key.startsWith(TOOL_KEY_PREFIX) ? 'tools' : 'principals';
}

/**
 * Each pool's budget; together they are `maxEntities`. Tools keep at least one place once
 * there are two (with none, large_payload, which judges sizes per tool, would learn nothing
 * under a small bound), and never more than people and roles.
 */
export function poolBudgets(maxEntities: number): Readonly<Record<EntityPool, number>> {
  const tools = Math.min(Math.max(1, Math.floor(maxEntities * TOOL_SHARE)), Math.floor(maxEntities / 2));
  return { tools, principals: maxEntities - tools };
}

/**
 * How far ahead in the eviction order a tool used by one person alone is: more than any gap
 * between two live entities' lastSeen, or their expiries (`stateTtlDays` is at most ten
 * years, about 2^38 ms).
 */
const SOLE_USE_HEAD_START = 2 ** 42;

/**
 * Where an entity stands in its pool's eviction order, lowest first: by `time`, its lastSeen
 * or what follows it in step (its expiry, `stateTtlDays` later), so the least recently seen,
 * but every tool one person alone has used before any tool two people have. A flood
 * of made-up names (each used by its sender alone) then displaces only single-person tools,
 * never the shared tools whose baselines (large_payload's sizes by everyone) judge others.
 * Two colluding accounts calling each name can still share them: that costs the flooder
 * twice the calls and a second identity.
 */
export function evictionRank(entity: Pick<EntityState, 'soleUser'>, time: number): number {
  return entity.soleUser === undefined ? time : time - SOLE_USE_HEAD_START;
}

/**
 * Records a person's use of a tool just counted (count 1: this use made it), for
 * evictionRank. Free once a second person has used it; a tool stored before its sole user
 * was kept counts as shared.
 */
export function noteToolUse(tool: EntityState, user: EntityState, email: string): void {
  if (tool.count === 1) tool.soleUser = tagOf(user, email);
  else if (tool.soleUser !== undefined && tool.soleUser !== tagOf(user, email)) delete tool.soleUser;
}
