import type { EntityState, RuleId } from '../types.js';

/** A rule's own part of an entity's state, created on first use (plain JSON: the engine stores it as it is). */
export function slotOf<T>(entity: EntityState, rule: RuleId, create: () => T): T {
  return (entity.slots[rule] ??= create()) as T;
}
