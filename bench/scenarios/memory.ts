import { setTimeout as sleep } from 'node:timers/promises';
import { engineerWithGrant } from '../deployment.js';
import { brokered, closeAll, echo } from '../mcp-clients.js';
import { pooled } from '../pool.js';
import { atMost, figure } from '../report.js';
import type { Scenario } from '../scenario.js';

const SESSIONS = 5_000;
const CONNECT_CONCURRENCY = 32;
/** Lets each session's upstream GET stream open before the heap is read. */
const SETTLE_MS = 2_000;

/**
 * Idle sessions (initialized, then quiet) on the Streamable HTTP upstream: the broker's
 * heap after a full collection, minus its heap with the same code paths warmed and no
 * session open, divided by the sessions.
 */
export const memory: Scenario = {
  name: 'memory',
  async run(ctx) {
    const broker = await ctx.startBroker();
    const { token } = await engineerWithGrant(broker, ctx.env.idp, 'alice', 'http');
    const warm = await pooled(10, 10, () => brokered(broker.wsUrl, 'http', token));
    await Promise.all(warm.map((c) => echo(c, 'warm')));
    await closeAll(warm);
    await sleep(SETTLE_MS);
    const before = await broker.heap();

    const count = ctx.size(SESSIONS);
    ctx.progress(`${count} idle sessions`);
    const sessions = await pooled(count, CONNECT_CONCURRENCY, () => brokered(broker.wsUrl, 'http', token));
    await sleep(SETTLE_MS);
    const after = await broker.heap();
    await closeAll(sessions);

    const scenario = `memory (${count} idle sessions, http upstream)`;
    return [
      figure(scenario, 'heap per session', (after.heapUsed - before.heapUsed) / count / 1024, 'KiB', atMost(64)),
      figure(scenario, 'RSS per session', (after.rss - before.rss) / count / 1024, 'KiB'),
      figure(scenario, 'heap with sessions', after.heapUsed / 2 ** 20, 'MiB'),
    ];
  },
};
