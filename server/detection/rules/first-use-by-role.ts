import type { DetectionRule } from '../types.js';
import { finding } from './finding.js';
import { firstUseState, knownBefore, recordUse, useText } from './first-use.js';
import type { FirstUseState } from './first-use.js';
import { slotOf } from './slot.js';
import { DAY_MS } from './time.js';

/** A role's members together use more than one person does. */
const MAX_TOOLS = 2000;
const MAX_SERVERS = 200;

/**
 * Someone using a tool or server nobody in the role it was granted under ever used: what
 * the role was meant for is learned from its members, so a grant broader than the work
 * shows up the first time its unusual part is used. Judged once the role has been seen for
 * the warm-up period.
 */
export const firstUseByRole: DetectionRule = {
  id: 'first_use_by_role',
  evaluate(observation, context) {
    const role = context.role;
    if (!role || observation.role === null) return null;
    const state = slotOf<FirstUseState>(role, 'first_use_by_role', firstUseState);
    const use = recordUse(state, observation, MAX_TOOLS, MAX_SERVERS);
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
