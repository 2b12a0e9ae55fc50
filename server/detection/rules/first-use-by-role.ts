import { tagOf } from '../person-tag.js';
import { toolId } from '../types.js';
import type { DetectionRule, Observation } from '../types.js';
import { finding } from './finding.js';
import { adoptedAsSent, firstUseState, knownBefore, recordUse, useText } from './first-use.js';
import type { FirstUseState } from './first-use.js';
import { forgetKey, oldestKey } from './recency-set.js';
import { slotOf } from './slot.js';
import { DAY_MS } from './time.js';

/** A role's members together use more than one person does. */
const MAX_TOOLS = 2000;
const MAX_SERVERS = 200;
/**
 * Tools of the role's set that each member may hold alone whatever the others do. Tool names
 * are the caller's (a `tools: ['*']` grant lets any through), so without it one member
 * calling MAX_TOOLS made-up names pushed out everything the role uses, and every colleague's
 * next ordinary call was a "first use by the role" (with a response configured, cutting them
 * off). More only while the set has room: someone who alone uses many tools (a role of one,
 * an admin across large servers) keeps them all until it fills. A tenth of the set.
 */
const PER_PERSON = 200;

/**
 * The role's tools and servers, and who holds the tools only one member has used so far
 * (absent in a state stored before it was kept: its tools count as shared).
 */
interface RoleUseState extends FirstUseState {
  /** Tools (toolId) used by one member alone: their tag (person-tag.ts). */
  soleUser?: Record<string, string>;
  /** How many tools each member (tag) holds alone. */
  soleCount?: Record<string, number>;
}

/**
 * Someone using a tool or server nobody in the role it was granted under ever used: what
 * the role was meant for is learned from its members, so a grant broader than the work
 * shows up the first time its unusual part is used. Judged once the role (not the person:
 * a new member is judged from their first call) has been seen for the warm-up period.
 */
export const firstUseByRole: DetectionRule = {
  id: 'first_use_by_role',
  judgesNewcomers: true,
  evaluate(observation, context) {
    const role = context.role;
    if (!role || observation.role === null) return null;
    const state = slotOf<RoleUseState>(role, 'first_use_by_role', firstUseState);
    const toolKey = toolKeyOf(observation);
    // Adopted before what is new is judged: a tool an older version knew under its name as sent is no new tool, and makes no room.
    if (toolKey !== null) adoptedAsSent(state.tools, `${observation.server}/${observation.tool}`, toolKey, observation.at, MAX_TOOLS);
    const holder = toolKey === null ? null : { key: toolKey, tag: tagOf(context.user, observation.user), isNew: !Object.hasOwn(state.tools.last, toolKey) };
    if (holder?.isNew) makeRoom(state, holder.tag);
    const use = recordUse(state, observation, MAX_TOOLS, MAX_SERVERS);
    if (holder) noteHolder(state, holder);
    const days = Math.floor((observation.at - role.firstSeen) / DAY_MS);
    if (!use || days < context.config.warmupDays) return null;
    const known = knownBefore(state, use);
    return finding(context.config, 'first_use_by_role', {
      score: 1,
      summary:
        `${observation.user} used ${useText(use)}, which nobody in role ${observation.role} used in ${days} days` +
        ` (the role used ${known.knownServers} other servers${use.what === 'tool' ? ` and ${known.knownToolsOnServer} other tools on ${use.server}` : ''}): the grant reaches beyond what the role does`,
      observed: { what: use.what, server: use.server, tool: use.tool, role: observation.role },
      baseline: { ...known, historyDays: days },
      eventIds: [observation.event.id],
    });
  },
};

/** The tool `recordUse` records, as its set names it (toolId, `<server>/<tool>`: never an Object.prototype name); null when it records none. */
function toolKeyOf(observation: Observation): string | null {
  const { server, tool, kind } = observation;
  return server !== null && tool !== null && (kind === 'call' || kind === 'session') ? toolId(server, tool) : null;
}

/**
 * Before a tool new to the role is recorded into a full set: forgets the least recently used
 * tool of the member who gives one back (giverOf), else the role's least recently used.
 * Chosen here rather than by the set, so what is kept beside a tool goes with it.
 */
function makeRoom(state: RoleUseState, tag: string): void {
  if (state.tools.size < MAX_TOOLS) return;
  const giver = giverOf(state, tag);
  const victim = giver === null ? oldestKey(state.tools) : oldestHeldBy(state, giver);
  if (victim === undefined) return;
  forgetKey(state.tools, victim);
  release(state, victim);
}

/**
 * Who gives back one of the tools they hold alone when a member's new tool finds the set
 * full: the member themself once they hold PER_PERSON (so a flood only ever replaces the
 * flooder's own names), else whoever holds the most past PER_PERSON (room they took while
 * the set had it); null when nobody holds more than PER_PERSON.
 */
function giverOf(state: RoleUseState, tag: string): string | null {
  if (heldBy(state, tag) >= PER_PERSON) return tag;
  let most: string | null = null;
  let held = PER_PERSON;
  for (const member in state.soleCount) {
    if (state.soleCount[member]! > held) [most, held] = [member, state.soleCount[member]!];
  }
  return most;
}

/** After a use: a tool new to the role is the member's alone; one another member held alone becomes the role's. */
function noteHolder(state: RoleUseState, holder: { key: string; tag: string; isNew: boolean }): void {
  const soleUser = (state.soleUser ??= {});
  if (holder.isNew) {
    soleUser[holder.key] = holder.tag;
    (state.soleCount ??= {})[holder.tag] = heldBy(state, holder.tag) + 1;
  } else if (Object.hasOwn(soleUser, holder.key) && soleUser[holder.key] !== holder.tag) {
    release(state, holder.key);
  }
}

/** How many tools the member (tag) holds alone. */
function heldBy(state: RoleUseState, tag: string): number {
  return state.soleCount !== undefined && Object.hasOwn(state.soleCount, tag) ? state.soleCount[tag]! : 0;
}

/** The member's least recently used tool of those they hold alone (a scan: only a full set gets here). */
function oldestHeldBy(state: RoleUseState, tag: string): string | undefined {
  let oldest: string | undefined;
  for (const key in state.soleUser) {
    if (state.soleUser[key] === tag && (oldest === undefined || state.tools.last[key]! < state.tools.last[oldest]!)) oldest = key;
  }
  return oldest;
}

/** The tool is no longer held alone by anyone (forgotten, or used by a second member). */
function release(state: RoleUseState, key: string): void {
  if (state.soleUser === undefined || !Object.hasOwn(state.soleUser, key)) return;
  const tag = state.soleUser[key]!;
  delete state.soleUser[key];
  const left = heldBy(state, tag) - 1;
  if (left > 0) state.soleCount![tag] = left;
  else delete state.soleCount![tag];
}
