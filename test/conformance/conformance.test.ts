import { expect, it } from 'vitest';
import { runBothColumns } from './targets.js';
import { regressions, report } from './suite.js';

/**
 * Issue 15, item 9: through the broker's Streamable HTTP endpoint, the official MCP
 * conformance suite passes every scenario it passes against the reference server directly.
 */
it('passes through Portcullis every conformance scenario the reference server passes directly', { timeout: 600_000 }, async () => {
  const { direct, broker } = await runBothColumns();
  console.log(report(direct, broker));
  expect([...direct.values()].some((r) => r.failed === 0)).toBe(true);
  expect(regressions(direct, broker)).toEqual([]);
});
