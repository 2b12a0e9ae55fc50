import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { systemClock } from '../../server/clock.js';
import { createRedisStores } from '../../server/stores/redis/index.js';
import { postGraphQL } from '../../test/support/test-server.js';
import { benchConfig, signInPerson } from '../deployment.js';
import { pooled } from '../pool.js';
import { REPO_ROOT } from '../processes.js';
import { atMost, figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { percentile } from '../stats.js';

const SCENARIO = 'console (first load; audit table over a large log)';
const LOG_EVENTS = 100_000;
const QUERIES = 50;
const PEOPLE = 200;
/** The audit page's first query: the newest events, as the table opens. */
const NEWEST = 'query($filter: AuditFilter) { auditEvents(first: 50, order: NEWEST_FIRST, filter: $filter) { items { id time type outcome actor server tool } pageInfo { endCursor hasNextPage } } }';

/**
 * What a person waits for in the console: the bytes of its first load as the broker
 * serves them compressed (index.html's scripts, stylesheets and preloads), and the audit
 * table's first page with 100,000 events in the log, unfiltered and filtered to one
 * person (the filter scans: the figure shows what a narrow filter costs).
 */
export const consoleLoad: Scenario = {
  name: 'console',
  async run(ctx) {
    const prefix = `bench:console:${Date.now()}:`;
    const broker = await ctx.startBroker(benchConfig(ctx.env, prefix));
    const bytes = await firstLoadBytes(broker.url);

    const events = ctx.size(LOG_EVENTS);
    ctx.progress(`writing ${events} audit events`);
    const stores = createRedisStores({ url: ctx.env.redisUrl, keyPrefix: prefix, commandTimeoutMs: 5_000, connectTimeoutMs: 5_000, clock: systemClock });
    try {
      await stores.waitReady();
      await pooled(events, 64, (i) =>
        stores.audit.append({ type: 'mcp.request', outcome: 'SUCCESS', actor: `user${i % PEOPLE}@example.com`, server: 'http', tool: 'echo', data: { method: 'tools/call', params: { name: 'echo', arguments: { message: `event ${i}` } } } }),
      );
    } finally {
      await stores.close();
    }

    const token = await (await signInPerson(broker, ctx.env.idp, 'carol', ['security'])).token(['api', 'audit:read']);
    const timed = async (filter: Record<string, unknown> | null) => {
      const samples: number[] = [];
      for (let i = 0; i < ctx.size(QUERIES); i++) {
        const start = performance.now();
        const { body } = await postGraphQL(broker.url, { query: NEWEST, variables: { filter } }, { authorization: `Bearer ${token}` });
        samples.push(performance.now() - start);
        if (body.errors) throw new Error(`audit query failed: ${JSON.stringify(body.errors)}`);
      }
      return samples;
    };
    ctx.progress('timing the audit table');
    const newest = await timed(null);
    const onePerson = await timed({ actor: 'user7@example.com' });
    return [
      figure(SCENARIO, 'first load, compressed JS + CSS', bytes.compressed / 1024, 'KiB', atMost(300)),
      figure(SCENARIO, 'first load, uncompressed JS + CSS', bytes.raw / 1024, 'KiB'),
      figure(SCENARIO, `audit table first page, ${events} events: p50`, percentile(newest, 50), 'ms'),
      figure(SCENARIO, `audit table first page, ${events} events: p99`, percentile(newest, 99), 'ms'),
      figure(SCENARIO, `audit table filtered to one of ${PEOPLE} people: p50`, percentile(onePerson, 50), 'ms'),
      figure(SCENARIO, `audit table filtered to one of ${PEOPLE} people: p99`, percentile(onePerson, 99), 'ms'),
    ];
  },
};

/** The assets index.html loads at once, fetched from the broker as a browser asks for them (gzip accepted). */
async function firstLoadBytes(brokerUrl: string): Promise<{ compressed: number; raw: number }> {
  const index = readFileSync(join(REPO_ROOT, 'dist/console/index.html'), 'utf8');
  const assets = [...index.matchAll(/(?:src|href)="(\/assets\/[^"]+\.(?:js|css))"/g)].map((m) => m[1]!);
  if (assets.length === 0) throw new Error('dist/console/index.html loads no assets: is the console built (npm run build)?');
  let compressed = 0;
  let raw = 0;
  for (const path of new Set(assets)) {
    compressed += await servedBytes(`${brokerUrl}${path}`, 'gzip');
    raw += await servedBytes(`${brokerUrl}${path}`, 'identity');
  }
  return { compressed, raw };
}

function servedBytes(url: string, encoding: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { 'accept-encoding': encoding } }, (res) => {
      let size = 0;
      res.on('data', (chunk: Buffer) => (size += chunk.length));
      res.on('end', () => (res.statusCode === 200 ? resolve(size) : reject(new Error(`${url}: HTTP ${res.statusCode}`))));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
}
