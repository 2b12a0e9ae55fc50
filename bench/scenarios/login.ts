import { postToAcs, startLogin } from '../../test/support/test-idp.js';
import { pooled } from '../pool.js';
import { atLeast, atMost, figure } from '../report.js';
import type { Scenario } from '../scenario.js';

const LOGINS = 1_000;
/** ACS posts in flight at once: enough to keep one broker core busy through Redis round trips. */
const CONCURRENCY = 8;
const SCENARIO = 'login (SAML ACS, signed assertions)';

/**
 * Every ACS needs a fresh AuthnRequest id (InResponseTo is always checked) and a fresh
 * assertion id (replay cache), so logins are started and responses signed up front; only
 * the ACS posts are timed, against the broker's wall clock and its CPU time.
 */
export const login: Scenario = {
  name: 'login',
  async run(ctx) {
    const { idp } = ctx.env;
    const broker = await ctx.startBroker();
    const count = ctx.size(LOGINS);
    ctx.progress(`preparing ${count} signed responses`);
    const starts = await pooled(count, CONCURRENCY, () => startLogin(broker.url, idp.id));
    const responses = starts.map(({ requestId, relayState }, i) => {
      const email = `user${i}@example.com`;
      return { xml: idp.signedResponse({ inResponseTo: requestId, nameId: email, attributes: { email, groups: ['engineering'] } }), relayState: relayState ?? undefined };
    });

    ctx.progress(`${count} ACS posts, ${CONCURRENCY} in flight`);
    const start = performance.now();
    const { result: statuses, cpuMicros } = await broker.window('acs', () =>
      pooled(count, CONCURRENCY, async (i) => (await postToAcs(broker.url, idp.id, responses[i]!.xml, responses[i]!.relayState)).status),
    );
    const seconds = (performance.now() - start) / 1000;
    const cpuSeconds = cpuMicros / 1e6;
    const refused = statuses.filter((s) => s !== 303).length;

    return [
      figure(SCENARIO, 'ACS validations/s (wall)', count / seconds, 'logins/s'),
      figure(SCENARIO, 'ACS validations per broker CPU-second', count / cpuSeconds, 'logins/s/core', atLeast(300)),
      figure(SCENARIO, 'broker CPU per validation', (cpuSeconds * 1000) / count, 'ms'),
      figure(SCENARIO, 'refused', refused, 'logins', atMost(0)),
    ];
  },
};
