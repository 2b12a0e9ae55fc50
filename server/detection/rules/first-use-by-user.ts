import type { DetectionRule } from '../types.js';
import { finding } from './finding.js';
import { firstUseState, knownBefore, recordUse, useText } from './first-use.js';
import type { FirstUseState } from './first-use.js';
import { slotOf } from './slot.js';
import { DAY_MS } from './time.js';

/** Tools and servers remembered per person: past this, the least recently used is forgotten (and would be new again). */
const MAX_TOOLS = 500;
const MAX_SERVERS = 100;

/** A person using a tool or server they never used before, once they have a history to compare with. */
export const firstUseByUser: DetectionRule = {
  id: 'first_use_by_user',
  evaluate(observation, context) {
    const state = slotOf<FirstUseState>(context.user, 'first_use_by_user', firstUseState);
    const use = recordUse(state, observation, MAX_TOOLS, MAX_SERVERS);
    if (!use || !context.warm) return null;
    const known = knownBefore(state, use);
    const days = Math.floor((observation.at - context.user.firstSeen) / DAY_MS);
    return finding(context.config, 'first_use_by_user', {
      score: 1,
      summary:
        `${observation.user} used ${useText(use)} for the first time, after ${days} days in which they used ${known.knownServers} other servers` +
        `${use.what === 'tool' ? ` and ${known.knownToolsOnServer} other tools on ${use.server}` : ''}: a first use is often a new task, but it is also how a stolen session explores`,
      observed: { what: use.what, server: use.server, tool: use.tool },
      baseline: { ...known, historyDays: days },
      eventIds: [observation.event.id],
    });
  },
};
