import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';

/** Histogram and summary series carry a suffix on the metric they belong to. */
const SERIES_SUFFIX = /_(bucket|sum|count)$/;

async function scrape(fx: BrokerFixture): Promise<string> {
  const res = await fetch(`${fx.server.url}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

/** One sample's value, by its exact series (`name{labels}` as prom-client writes them); undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('Prometheus metrics (/metrics)', () => {
  let fx: BrokerFixture;
  beforeAll(async () => {
    fx = await startBroker();
  });
  afterAll(() => fx.close());

  it('has every metric the Grafana dashboard (infra/grafana/portcullis.json) queries', async () => {
    const dashboard = JSON.parse(readFileSync('infra/grafana/portcullis.json', 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const queried = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => t.expr.match(/\bportcullis_[a-z0-9_]+/g) ?? [])).map((name) => name.replace(SERIES_SUFFIX, '')));
    expect(queried.size).toBeGreaterThan(10);
    const exposed = new Set([...(await scrape(fx)).matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    expect([...queried].filter((name) => !exposed.has(name))).toEqual([]);
  });

  it('counts live sessions, MCP requests, denials by reason and audit appends, and reports the store up', async () => {
    await fx.grant(['echo']);
    const { client } = await fx.connect(await fx.token());
    await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    await expect(client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } })).rejects.toThrow(/not granted|denied/i);
    const text = await scrape(fx);
    expect(sample(text, 'portcullis_mcp_sessions')).toBe(1);
    expect(sample(text, 'portcullis_audit_events_total{type="mcp.request",outcome="SUCCESS"}')).toBeGreaterThanOrEqual(2);
    expect(sample(text, 'portcullis_denials_total{type="mcp.request",reason="tool_not_granted"}')).toBe(1);
    expect(sample(text, 'portcullis_audit_append_duration_seconds_count{result="ok"}')).toBeGreaterThan(0);
    expect(sample(text, 'portcullis_store_up{store="embedded"}')).toBe(1);
    expect(sample(text, 'portcullis_store_ping_seconds{store="embedded"}')).toBeGreaterThanOrEqual(0);
    await client.close();
    await expect.poll(async () => sample(await scrape(fx), 'portcullis_mcp_sessions')).toBe(0);
  });
});
