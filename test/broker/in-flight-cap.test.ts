import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../server/config/load.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { fixtureServer, startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { callTool as call } from '../support/tool-call-outcome.js';

/**
 * Security review: without `servers[].rateLimits.concurrent` nothing bounded the requests
 * one client kept in flight (each holds broker memory and upstream work until answered).
 * Every session has a bound of its own, `broker.maxInFlightPerSession`, on whatever else
 * is configured; past it a request is refused as a concurrency limit refuses a tool call.
 */

const TOOLS = ['say', 'hold'];
const OVERRIDES = {
  roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: TOOLS, maxDurationSeconds: 3600, autoApprove: true }] }],
  // No rateLimits: the bound holds without them.
  servers: [fixtureServer('everything', 'edge-upstream')],
};


/** `hold` calls, which the server never answers: in flight until the broker closes the session. */
function hold(client: Client, count: number): void {
  for (let i = 0; i < count; i++) void call(client, 'hold');
}

const refusedByCap = (cap: number) => ({
  ok: false,
  code: -32001,
  message: `MCP error -32001: Access denied: rate limit reached (broker.maxInFlightPerSession: ${cap}); retry in 1 s`,
  data: { reason: 'rate_limited', clause: `broker.maxInFlightPerSession: ${cap}`, retryAfterMs: 1000 },
});

async function requests(fx: BrokerFixture, email: string): Promise<AuditEvent[]> {
  return (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.type === 'mcp.request' && e.actor === email);
}

describe('the bound on requests in flight in one session (broker.maxInFlightPerSession)', () => {
  const brokers: BrokerFixture[] = [];
  afterEach(async () => {
    await Promise.all(brokers.splice(0).map((fx) => fx.close()));
  });

  const engineerOn = async (broker?: Record<string, unknown>) => {
    const fx = await startBroker({ overrides: { ...OVERRIDES, ...(broker ? { broker } : {}) } });
    brokers.push(fx);
    await fx.grant(TOOLS);
    const token = await fx.token();
    return { fx, connect: async () => (await fx.connect(token)).client };
  };

  it('refuses the 257th request in flight by default, with no rateLimits configured, as -32001 rate_limited naming the bound, audited; another session is not affected', async () => {
    const { fx, connect } = await engineerOn();
    const client = await connect();
    hold(client, 256);
    expect(await call(client, 'say')).toEqual(refusedByCap(256));
    const denied = (await requests(fx, 'alice@example.com')).filter((e) => e.outcome === 'DENIED');
    expect(denied).toHaveLength(1);
    expect(denied[0]!.data).toMatchObject({ method: 'tools/call', reason: 'rate_limited', clause: 'broker.maxInFlightPerSession: 256', retryAfterMs: 1000 });
    // Not only tool calls: a listing is a request in flight too.
    await expect(client.listTools()).rejects.toMatchObject({ code: -32001, data: { reason: 'rate_limited' } });
    expect(await call(await connect(), 'say')).toEqual({ ok: true });
  });

  it('admits again as soon as a request in flight is answered', async () => {
    const { connect } = await engineerOn({ maxInFlightPerSession: 3 });
    const client = await connect();
    hold(client, 2);
    // The third place serves one request after another.
    for (let i = 0; i < 5; i++) expect(await call(client, 'say')).toEqual({ ok: true });
    hold(client, 1);
    expect(await call(client, 'say')).toEqual(refusedByCap(3));
  });
});

describe('broker.maxInFlightPerSession in the config', () => {
  const load = (broker: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-in-flight-'));
    const file = join(dir, 'portcullis.yaml');
    writeFileSync(file, `server:\n  publicUrl: http://127.0.0.1:8080\n${broker}`);
    return () => loadConfig(file, {}).config.broker.maxInFlightPerSession;
  };

  it('is 256 unless said, and takes 1 to 10,000', () => {
    expect(load('')()).toBe(256);
    expect(load('broker:\n  maxSessionsPerUser: 4\n')()).toBe(256);
    expect(load('broker:\n  maxInFlightPerSession: 32\n')()).toBe(32);
    expect(load('broker:\n  maxInFlightPerSession: 0\n')).toThrow(ConfigError);
    expect(load('broker:\n  maxInFlightPerSession: 10001\n')).toThrow(ConfigError);
  });
});
