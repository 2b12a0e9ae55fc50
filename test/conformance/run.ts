/**
 * `npm run conformance`: the official MCP conformance suite against the reference server
 * directly and through Portcullis, both columns printed; exits 1 when a scenario passes
 * directly but not through the broker.
 */
import { runBothColumns } from './targets.js';
import { regressions, report } from './suite.js';

const { direct, broker } = await runBothColumns();
console.log(report(direct, broker));
const lost = regressions(direct, broker);
if (lost.length > 0) {
  console.error(`\nPasses directly, fails through Portcullis: ${lost.join(', ')}`);
  process.exit(1);
}
console.log('\nEvery scenario the reference server passes directly passes through Portcullis.');
