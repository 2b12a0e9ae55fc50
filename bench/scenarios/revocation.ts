import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchConfig, engineerWithGrant } from '../deployment.js';
import { brokered } from '../mcp-clients.js';
import { pooled } from '../pool.js';
import { atMost, figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { percentile } from '../stats.js';

const SESSIONS = 1_000;
/** Sessions are spread over this many users, one grant each; grants are revoked one after another. */
const GRANTS = 10;
const CONNECT_CONCURRENCY = 32;
const CLOSE_TIMEOUT_MS = 10_000;

/**
 * Live sessions on two instances sharing one Redis, every grant's sessions split between
 * them; once all are open, each grant in turn is revoked through instance A and each of
 * its sockets' close is timed from the revokeGrant reply (a socket closed before the
 * reply arrived counts as 0).
 */
export const revocation: Scenario = {
  name: 'revocation',
  async run(ctx) {
    const { env } = ctx;
    const config = benchConfig(env, `bench:${randomUUID()}:`);
    const instances = [await ctx.startBroker(config), await ctx.startBroker(config)] as const;
    const perGrant = Math.max(2, Math.round(ctx.size(SESSIONS) / GRANTS));
    ctx.progress(`${perGrant * GRANTS} sessions over ${GRANTS} grants on two instances`);

    const groups = [];
    for (let g = 0; g < GRANTS; g++) {
      const { person, grantId, token } = await engineerWithGrant(instances[0], env.idp, `user${g}`, 'http');
      const closedAt: number[] = [];
      await pooled(perGrant, CONNECT_CONCURRENCY, async (i) => {
        const client = await brokered(instances[i % 2]!.wsUrl, 'http', token);
        client.onclose = () => void closedAt.push(performance.now());
      });
      groups.push({ revoke: () => person.revoke(grantId), closedAt });
    }

    const latencies: number[] = [];
    let unclosed = 0;
    for (const { revoke, closedAt } of groups) {
      await revoke();
      const repliedAt = performance.now();
      for (const giveUp = repliedAt + CLOSE_TIMEOUT_MS; closedAt.length < perGrant && performance.now() < giveUp; ) await sleep(5);
      unclosed += perGrant - closedAt.length;
      latencies.push(...closedAt.map((t) => Math.max(0, t - repliedAt)));
    }

    const scenario = `revocation (${perGrant * GRANTS} sessions, 2 instances)`;
    return [
      figure(scenario, 'close p50', percentile(latencies, 50), 'ms'),
      figure(scenario, 'close p99', percentile(latencies, 99), 'ms', atMost(50)),
      figure(scenario, 'close max', percentile(latencies, 100), 'ms'),
      figure(scenario, 'sessions left open', unclosed, 'sessions', atMost(0)),
    ];
  },
};
