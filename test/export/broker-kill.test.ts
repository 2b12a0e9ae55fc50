import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import type { Stores } from '../../server/stores/types.js';
import { killBroker, serveBroker, writeRedisBrokerConfig } from '../support/broker-process.js';
import { testTls } from '../support/certificates.js';
import { isCi } from '../support/ci.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';
import { hasRsyslog, startRsyslog } from '../support/rsyslog.js';
import { startHecReceiver, startOtlpReceiver } from '../support/siem-receivers.js';

const TOKEN = 'hec-token-broker-kill-0123456789abcdef';
const OTLP_AUTH = 'Bearer otlp-broker-kill-secret';
const TOTAL = 400;
const BATCH = 20;

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Every id once, in the log's order: a repeat (the batch in flight at the kill, sent again) is recognised by its id. */
function firstSeen(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}

describeWithRedis('audit export across a broker killed mid-stream', () => {
  it.runIf(hasRsyslog() || isCi())('every receiver ends with every event, in order; a repeat is only of the batch in flight at the kill, and the file holds each event once', { timeout: 120_000 }, async () => {
    const tls = await testTls();
    const [hec, otlp, rsyslog] = await Promise.all([startHecReceiver(tls, TOKEN), startOtlpReceiver(tls, { name: 'Authorization', value: OTLP_AUTH }), startRsyslog(tls)]);
    cleanups.push(hec.stop, otlp.stop, rsyslog.stop);
    const { dir, config, prefix } = writeRedisBrokerConfig(
      'export-kill',
      `audit:
  export:
    sinks:
      - { name: splunk, type: splunk-hec, url: "${hec.url}", token: "\${env:HEC_TOKEN}", batchSize: ${BATCH}, tls: { ca: "\${file:ca.pem}" } }
      - { name: otel, type: otlp, url: "${otlp.url}", format: json, headers: { Authorization: "\${env:OTLP_AUTH}" }, batchSize: ${BATCH}, tls: { ca: "\${file:ca.pem}" } }
      - { name: syslog, type: syslog, host: 127.0.0.1, port: ${rsyslog.port}, batchSize: ${BATCH}, tls: { ca: "\${file:ca.pem}" } }
      - { name: archive, type: file, path: audit-export.jsonl, format: json, batchSize: ${BATCH} }
`,
      { 'ca.pem': tls.ca },
    );
    const env = { HEC_TOKEN: TOKEN, OTLP_AUTH };
    const stores: Stores = await redisStoresForTest({ prefix, clock: systemClock });
    cleanups.push(() => stores.close());

    const fileIds = () => {
      try {
        return readFileSync(join(dir, 'audit-export.jsonl'), 'utf8').split('\n').filter((line) => line.startsWith('{')).map((line) => (JSON.parse(line) as { id: string }).id);
      } catch {
        return [];
      }
    };
    const received = () => [hec.ids(), otlp.ids(), rsyslog.received().map((m) => (m.record.metadata as { uid: string }).uid), fileIds()];
    const counts = () => received().map((ids) => ids.length);

    const first = await serveBroker(config, env, (cleanup) => cleanups.push(cleanup));
    const appended: string[] = [];
    const appendAll = (async () => {
      for (let i = 0; i < TOTAL; i++) {
        appended.push((await stores.audit.append({ type: 'mcp.request', outcome: 'SUCCESS', actor: 'alice@example.com', server: 'everything', tool: 'echo', data: { n: i } })).id);
        // A steady stream, so the kill lands while events keep coming.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    // Mid-stream: every receiver has some, and events keep coming.
    await expect.poll(() => Math.min(...counts()), { timeout: 60_000, interval: 10 }).toBeGreaterThan(0);
    await killBroker(first);
    expect(appended.length).toBeLessThan(TOTAL);

    // The successor takes each sink's lease once the dead holder's lapses, and goes on from each cursor.
    await serveBroker(config, env, (cleanup) => cleanups.push(cleanup));
    await appendAll;
    await expect.poll(() => received().map((ids) => firstSeen(ids).length), { timeout: 60_000 }).toEqual([TOTAL, TOTAL, TOTAL, TOTAL]);

    const [splunk, otel, syslog, file] = received();
    for (const ids of [splunk!, otel!, syslog!]) {
      expect(firstSeen(ids)).toEqual(appended);
      // Anything received twice was in the one batch in flight when the broker died.
      expect(ids.length - TOTAL).toBeLessThanOrEqual(BATCH);
    }
    expect(file).toEqual(appended);
  });
});
