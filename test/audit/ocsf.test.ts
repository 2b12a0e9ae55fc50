import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderOcsfExamples } from '../../clients/audit/ocsf-examples.js';
import { AUDIT_EVENT_TYPES } from '../../server/audit/event-types.js';

describe('OCSF mapping documentation', () => {
  it('docs/ocsf-examples.md shows every event type and is current', () => {
    const doc = readFileSync('docs/ocsf-examples.md', 'utf8');
    expect(doc, 'stale: run `npm run docs`').toBe(renderOcsfExamples());
    for (const type of AUDIT_EVENT_TYPES) expect(doc).toContain(`## \`${type}\``);
  });
});
