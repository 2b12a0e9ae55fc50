import { randomUUID } from 'node:crypto';
import { mkdtempSync, openSync, readSync, closeSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { testTls } from '../../test/support/certificates.js';
import { hasRsyslog, startRsyslog } from '../../test/support/rsyslog.js';
import { startHecReceiver, startOtlpReceiver } from '../../test/support/siem-receivers.js';
import { benchConfig, engineerWithGrant } from '../deployment.js';
import { closedLoop } from '../load.js';
import { brokered, closeAll } from '../mcp-clients.js';
import { pooled } from '../pool.js';
import { atMost, figure } from '../report.js';
import type { Figure } from '../report.js';
import type { Scenario } from '../scenario.js';
import { percentile } from '../stats.js';
import { CONNECT_CONCURRENCY, IN_FLIGHT, SECONDS, SESSIONS } from './throughput.js';

const TOKEN = 'bench-hec-token-0123456789abcdef';
const OTLP_AUTH = 'Bearer bench-otlp-token';
const BATCH = 500;
/** After the load stops, how long the sinks get to catch up before what arrived is counted. */
const DRAIN_TIMEOUT_MS = 120_000;

/**
 * Audit export (issue 20, point 5): the throughput scenario's load (64 sessions x 4 in
 * flight on the http upstream) through one broker exporting its audit log to four sinks at
 * once: Splunk HEC and OTLP/HTTP receivers (HTTPS, in this process), a private rsyslog over
 * TLS and a JSON-lines file. Each event's export lag runs from its audit `time` to its
 * arrival (the HTTP receiver's clock, rsyslog's `timegenerated`, the file tailed every 5 ms).
 */
export const auditExport: Scenario = {
  name: 'export',
  async run(ctx) {
    const { env } = ctx;
    const tls = await testTls();
    const hec = await startHecReceiver(tls, TOKEN);
    const otlp = await startOtlpReceiver(tls, { name: 'Authorization', value: OTLP_AUTH });
    const rsyslog = hasRsyslog() ? await startRsyslog(tls) : null;
    const file = join(mkdtempSync(join(tmpdir(), 'portcullis-bench-export-')), 'audit.jsonl');
    const tail = tailFile(file);
    try {
      const common = { batchSize: BATCH, tls: { ca: tls.ca } };
      const sinks = [
        { name: 'splunk', type: 'splunk-hec', url: hec.url, token: TOKEN, ...common },
        { name: 'otel', type: 'otlp', url: otlp.url, headers: { Authorization: OTLP_AUTH }, ...common },
        ...(rsyslog ? [{ name: 'syslog', type: 'syslog', host: '127.0.0.1', port: rsyslog.port, ...common }] : []),
        { name: 'archive', type: 'file', path: file, batchSize: BATCH },
      ];
      const config = benchConfig(env, `bench:${randomUUID()}:`);
      const broker = await ctx.startBroker({ ...config, audit: { export: { sinks } } });
      const { token } = await engineerWithGrant(broker, env.idp, 'exporter', 'http');
      const seconds = ctx.size(SECONDS);
      const clients = await pooled(SESSIONS, CONNECT_CONCURRENCY, () => brokered(broker.wsUrl, 'http', token));
      ctx.progress(`${SESSIONS} sessions x ${IN_FLIGHT} in flight for ${seconds} s, exported to ${sinks.length} sinks`);
      const run = await closedLoop(clients, IN_FLIGHT, seconds);
      await closeAll(clients);

      ctx.progress('waiting for every sink to catch up');
      const counts = () => [hec.events.length, otlp.events.length, ...(rsyslog ? [rsyslog.count()] : []), tail.lines().length];
      for (let giveUp = Date.now() + DRAIN_TIMEOUT_MS, look = 0; Date.now() < giveUp; await sleep(250), look++) {
        const now = counts();
        if (now.every((n) => n === now[0]) && now[0]! > 0) break;
        if (look % 20 === 19) ctx.progress(`arrived so far: ${now.join(', ')}`);
      }
      const arrivals: Record<string, { id: string; lag: number }[]> = {
        'splunk-hec': hec.events.map((e) => arrival(e.record, e.at)),
        otlp: otlp.events.map((e) => arrival(e.record, e.at)),
        ...(rsyslog ? { syslog: rsyslog.received().map((m) => arrival(m.record, m.receivedAt)) } : {}),
        file: tail.lines().map((line) => arrival(JSON.parse(line.text) as Record<string, unknown>, line.at)),
      };
      const everyId = new Set(Object.values(arrivals).flatMap((list) => list.map((a) => a.id)));
      const scenario = `export (${SESSIONS} sessions x ${IN_FLIGHT}, ${seconds} s, ${sinks.length} sinks, batches of ${BATCH})`;
      const figures: Figure[] = [figure(scenario, 'brokered calls/s', run.callsPerSecond, 'calls/s'), figure(scenario, 'audit events exported', everyId.size, 'events')];
      for (const [kind, list] of Object.entries(arrivals)) {
        const lags = list.map((a) => a.lag);
        const distinct = new Set(list.map((a) => a.id)).size;
        figures.push(
          figure(scenario, `${kind} export lag p50`, percentile(lags, 50), 'ms'),
          figure(scenario, `${kind} export lag p99`, percentile(lags, 99), 'ms', atMost(5_000)),
          figure(scenario, `${kind} events missing`, everyId.size - distinct, 'events', atMost(0)),
          figure(scenario, `${kind} events repeated`, list.length - distinct, 'events', atMost(0)),
        );
      }
      return figures;
    } finally {
      tail.stop();
      await Promise.all([hec.stop(), otlp.stop(), rsyslog?.stop()]);
    }
  },
};

/** An OCSF record's id (`metadata.uid`) and lag: from its `time` (epoch ms) to its arrival. */
function arrival(record: Record<string, unknown>, at: number): { id: string; lag: number } {
  return { id: (record.metadata as { uid: string }).uid, lag: at - (record.time as number) };
}

/** Reads what is appended to `path` every 5 ms, stamping each complete line with when it was first seen. */
function tailFile(path: string): { lines(): { text: string; at: number }[]; stop(): void } {
  const lines: { text: string; at: number }[] = [];
  let offset = 0;
  let partial = '';
  const buffer = Buffer.alloc(1 << 20);
  const timer = setInterval(() => {
    if (!existsSync(path)) return;
    const fd = openSync(path, 'r');
    try {
      for (let read = readSync(fd, buffer, 0, buffer.length, offset); read > 0; read = readSync(fd, buffer, 0, buffer.length, offset)) {
        offset += read;
        const chunk = partial + buffer.subarray(0, read).toString('utf8');
        const complete = chunk.split('\n');
        partial = complete.pop()!;
        const at = Date.now();
        for (const text of complete) lines.push({ text, at });
      }
    } finally {
      closeSync(fd);
    }
  }, 5);
  return { lines: () => lines, stop: () => clearInterval(timer) };
}
