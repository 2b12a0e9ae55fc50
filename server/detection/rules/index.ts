import type { DetectionConfig, DetectionRule } from '../types.js';
import { breadth } from './breadth.js';
import { firstUseByRole } from './first-use-by-role.js';
import { firstUseByUser } from './first-use-by-user.js';
import { largePayload } from './large-payload.js';
import { newClient } from './new-client.js';
import { offHours } from './off-hours.js';
import { probing } from './probing.js';
import { rateSpike } from './rate-spike.js';

const RULES: readonly DetectionRule[] = [firstUseByUser, firstUseByRole, rateSpike, probing, breadth, offHours, largePayload, newClient];

/** The rules the config enables, in RULE_IDS order. */
export function createRules(config: DetectionConfig): DetectionRule[] {
  return RULES.filter((rule) => config.rules[rule.id].enabled);
}
