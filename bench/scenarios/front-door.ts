import { signInPerson } from '../deployment.js';
import { brokeredHttp, directHttp } from '../mcp-clients.js';
import type { Scenario } from '../scenario.js';
import { compareCalls, latencyFigures } from './latency.js';

const CALLS = 10_000;
const WARMUP = 1_000;

/**
 * Issue 15: the Streamable HTTP front door. Sequential tools/call of the trivial tool on
 * the HTTP upstream, one session each way: a direct Streamable HTTP client, and the same
 * client through the broker's `/mcp/http` with a bearer token (each request authenticated).
 */
export const frontDoor: Scenario = {
  name: 'front-door',
  async run(ctx) {
    const broker = await ctx.startBroker();
    const alice = await signInPerson(broker, ctx.env.idp, 'alice', ['engineering']);
    await alice.grant('http');
    const direct = await directHttp(ctx.env.httpUpstream.url);
    const relayed = await brokeredHttp(broker.url, 'http', await alice.token(['mcp']));
    ctx.progress(`front door: ${ctx.size(CALLS)} calls each way`);
    const measured = await compareCalls(broker, 'front-door', direct, relayed, ctx.size(CALLS), ctx.size(WARMUP));
    return latencyFigures('front door (Streamable HTTP in and out)', measured, { p50: 0.25, p99: 1.5 });
  },
};
