import type { DetectionRule } from '../types.js';
import { finding } from './finding.js';
import { recencySet, recentKeys, touch } from './recency-set.js';
import type { RecencySet } from './recency-set.js';
import { slotOf } from './slot.js';

/** Client names remembered per person; versions of them (recorded, never flagged). */
const MAX_NAMES = 50;
const MAX_VERSIONS = 100;

interface ClientState {
  names: RecencySet;
  /** `<name> <version>`: what was seen (a new version is recorded here only), for a finding's explanation. */
  versions: RecencySet;
}

/**
 * An MCP client (its name from initialize's clientInfo, or the OAuth client) this person
 * never connected with: a stolen token is used from the thief's tooling, not the owner's.
 * A new version of a known client is an auto-update: recorded, not flagged.
 */
export const newClient: DetectionRule = {
  id: 'new_client',
  evaluate(observation, context) {
    const client = observation.client;
    if (!client) return null;
    const state = slotOf<ClientState>(context.user, 'new_client', () => ({ names: recencySet(), versions: recencySet() }));
    const name = client.name !== '' ? client.name : client.oauthClientId;
    if (name === null) return null;
    touch(state.versions, `${name} ${client.version ?? '?'}`, observation.at, MAX_VERSIONS);
    const known = state.names.size;
    if (!touch(state.names, name, observation.at, MAX_NAMES) || !context.warm) return null;
    const usual = recentKeys(state.versions, 6).filter((key) => !key.startsWith(`${name} `));
    return finding(context.config, 'new_client', {
      score: 1,
      summary:
        `${observation.user} connected with ${JSON.stringify(name)}${client.version === null ? '' : ` ${client.version}`}, a client they never used before ` +
        `(before it: ${usual.length === 0 ? 'none' : usual.join(', ')}): a stolen token is used from the thief's tooling, not its owner's`,
      observed: { name, version: client.version, oauthClientId: client.oauthClientId },
      baseline: { knownClients: known, recent: usual },
      eventIds: [observation.event.id],
    });
  },
};
