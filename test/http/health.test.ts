import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';
import { startRedisServer } from '../support/redis-server.js';
import type { RedisServerHandle } from '../support/redis-server.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

describe('health and metrics endpoints', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.close());

  it('/healthz says the process is up', async () => {
    const res = await fetch(`${server.url}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ok' });
  });

  it('/readyz says the embedded store is ready', async () => {
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'ready', store: 'embedded' });
  });

  it('/metrics serves Prometheus text with request counters by route', async () => {
    await fetch(`${server.url}/healthz`);
    await fetch(`${server.url}/no-such-page?token=secret-value`);
    const res = await fetch(`${server.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/portcullis_http_requests_total\{method="GET",route="\/healthz",status="200"\} [1-9]/);
    expect(text).toMatch(/portcullis_http_requests_total\{method="GET",route="unmatched",status="404"\} 1/);
    expect(text).toMatch(/portcullis_process_cpu_seconds_total/);
    expect(text).not.toMatch(/no-such-page|secret-value/);
  });

  it('serves metrics at /metrics exactly: not under another case or with a trailing slash, which a proxy rule may not match', async () => {
    for (const path of ['/METRICS', '/Metrics', '/metrics/']) {
      const res = await fetch(`${server.url}${path}`);
      expect(await res.text(), path).not.toMatch(/portcullis_process_cpu_seconds_total/);
    }
    expect((await fetch(`${server.url}/HEALTHZ`)).status).toBe(404);
  });

  it('logs requests without their query string', async () => {
    await fetch(`${server.url}/no-such-page?token=secret-value`);
    const lines = server.logs.filter((l) => l.includes('no-such-page'));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join('')).not.toMatch(/secret-value/);
  });
});

describeWithRedis('/readyz with the Redis store', () => {
  let redis: RedisServerHandle;
  let server: TestServer;
  beforeAll(async () => {
    redis = await startRedisServer();
    const stores = await redisStoresForTest({ url: redis.url, fast: true });
    server = await startTestServer({ stores });
  });
  afterAll(async () => {
    await server.close();
    await redis.stop();
  });

  it('turns 503 while Redis is down and 200 once it is back', async () => {
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    await redis.kill();
    const down = await fetch(`${server.url}/readyz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toEqual({ status: 'unavailable', store: 'redis', reason: 'store unreachable' });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await redis.restart();
    await server.stores.waitReady();
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});
