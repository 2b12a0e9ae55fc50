import { connectWithSdk, DCR_METADATA, MemoryOAuthProvider, resourceUrl, TestBrowser } from '../../test/support/oauth-client.js';
import { signInPerson } from '../deployment.js';
import { brokeredHttp, directHttp } from '../mcp-clients.js';
import type { BrokerProcess } from '../processes.js';
import { figure } from '../report.js';
import type { Figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { compareCalls, latencyFigures } from './latency.js';

const CALLS = 10_000;
const WARMUP = 1_000;
const AUTH_REQUESTS = 5_000;

/**
 * Issue 15: the Streamable HTTP front door. Sequential tools/call of the trivial tool on
 * the HTTP upstream, one session each way: a direct Streamable HTTP client, and the same
 * client through the broker's `/mcp/http` with an OAuth access token (signed in through
 * the SAML IdP, consent and code exchange, as a remote client does), every request
 * authenticated. Then what authentication costs the broker per request.
 */
export const frontDoor: Scenario = {
  name: 'front-door',
  async run(ctx) {
    const broker = await ctx.startBroker();
    const alice = await signInPerson(broker, ctx.env.idp, 'alice', ['engineering']);
    await alice.grant('http');
    const oauth = await connectWithSdk(broker.url, new TestBrowser(broker.url, ctx.env.idp), new MemoryOAuthProvider(DCR_METADATA.redirect_uris[0]!, DCR_METADATA), resourceUrl('http'));
    const direct = await directHttp(ctx.env.httpUpstream.url);
    const relayed = await brokeredHttp(broker.url, 'http', oauth.access_token);
    ctx.progress(`front door: ${ctx.size(CALLS)} calls each way`);
    const measured = await compareCalls(broker, 'front-door', direct, relayed, ctx.size(CALLS), ctx.size(WARMUP));
    const figures = latencyFigures('front door (Streamable HTTP in and out, OAuth token)', measured, { p50: 0.25, p99: 1.5 });
    ctx.progress(`front door: authentication cost over ${ctx.size(AUTH_REQUESTS)} requests per credential`);
    figures.push(...(await authenticationCost(broker, { oauth: oauth.access_token, api: await alice.token(['mcp']) }, ctx.size(AUTH_REQUESTS))));
    return figures;
  },
};

/**
 * Broker CPU per request that is authenticated and then names no session (404): the whole
 * cost of an HTTP request whose credential is checked in the store, for an OAuth access
 * token and for an API token, beside one that carries none (401, no lookup). Requests of an
 * established session skip the lookup (the session remembers the token it accepted).
 */
async function authenticationCost(broker: BrokerProcess, tokens: { oauth: string; api: string }, count: number): Promise<Figure[]> {
  const cpuPerRequest = async (name: string, token: string | null, status: number) => {
    const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-session-id': 'none', ...(token ? { authorization: `Bearer ${token}` } : {}) };
    const { cpuMicros } = await broker.window(name, async () => {
      for (let i = 0; i < count; i++) {
        const res = await fetch(`${broker.url}/mcp/http`, { method: 'POST', headers, body: '{"jsonrpc":"2.0","id":1,"method":"ping"}' });
        await res.arrayBuffer();
        if (res.status !== status) throw new Error(`expected ${status}, got ${res.status}`);
      }
    });
    return cpuMicros / count;
  };
  const scenario = 'one HTTP request to /mcp/http (broker CPU)';
  return [
    figure(scenario, 'OAuth access token checked, 404', await cpuPerRequest('auth-oauth', tokens.oauth, 404), 'µs'),
    figure(scenario, 'API token checked, 404', await cpuPerRequest('auth-api', tokens.api, 404), 'µs'),
    figure(scenario, 'no credential, 401', await cpuPerRequest('auth-none', null, 401), 'µs'),
  ];
}
