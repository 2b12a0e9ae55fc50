import { describe, expect, it } from 'vitest';
import { createRules } from '../../../server/detection/rules/index.js';
import { RULE_IDS } from '../../../server/detection/types.js';
import { detectionConfig } from '../../support/rule-driver.js';

describe('createRules', () => {
  it('gives every rule by default, in RULE_IDS order, and leaves out the disabled ones', () => {
    expect(createRules(detectionConfig()).map((rule) => rule.id)).toEqual([...RULE_IDS]);
    const config = detectionConfig({ rules: { off_hours: { enabled: false }, probing: { enabled: false } } });
    expect(createRules(config).map((rule) => rule.id)).toEqual(RULE_IDS.filter((id) => id !== 'off_hours' && id !== 'probing'));
  });
});
