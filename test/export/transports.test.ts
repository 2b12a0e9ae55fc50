import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadVendoredOcsfSchema, validateOcsf } from '../../clients/audit/ocsf-validate.js';
import { ExportNotAcknowledgedError } from '../../server/errors.js';
import { exportItem } from '../../server/export/export-record.js';
import { JsonLinesFileTransport } from '../../server/export/jsonl-file.js';
import { OtlpLogsTransport } from '../../server/export/otlp-logs.js';
import { SplunkHecTransport } from '../../server/export/splunk-hec.js';
import { SYSLOG_SD_ID, SyslogTlsTransport } from '../../server/export/syslog-tls.js';
import type { ExportTransport } from '../../server/export/types.js';
import { createLogger } from '../../server/log.js';
import { issueClientCertificate, testTls } from '../support/certificates.js';
import type { TestTls } from '../support/certificates.js';
import { auditEvents, sinkConfig } from '../support/export-fixture.js';
import { ManualClock } from '../support/manual-clock.js';
import { hasRsyslog, startRsyslog } from '../support/rsyslog.js';
import { isCi } from '../support/ci.js';
import { startHecReceiver, startOtlpReceiver } from '../support/siem-receivers.js';

const TOKEN = 'hec-token-5f1c2e9a-7b3d-4c8e-9a1f-0d2b3c4d5e6f';
const signal = () => AbortSignal.timeout(10_000);
const logger = createLogger({ level: 'silent' });

let tls: TestTls;
/** Another CA: what a receiver the sink must not trust presents. */
let otherTls: TestTls;
beforeAll(async () => {
  [tls, otherTls] = await Promise.all([testTls(), testTls()]);
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
function closing<T extends ExportTransport>(transport: T): T {
  cleanups.push(() => transport.close());
  return transport;
}

const refusal = (promise: Promise<unknown>) => promise.then(() => null, (error: unknown) => error);

describe('Splunk HEC', () => {
  it('posts the batch as concatenated event objects with the token, each carrying the audit id and schema-valid OCSF; acknowledged by 200 and code 0', async () => {
    const hec = await startHecReceiver(tls, TOKEN);
    cleanups.push(hec.stop);
    const transport = closing(new SplunkHecTransport(sinkConfig({ name: 'splunk', type: 'splunk-hec', url: hec.url, token: TOKEN, tls: { ca: tls.ca } }) as never));
    const events = auditEvents(5);
    await transport.send(events.map((e) => exportItem(e, 'ocsf')), signal());
    expect(hec.ids()).toEqual(['1', '2', '3', '4', '5']);
    expect(hec.events.map((e) => (e.record.metadata as { uid: string }).uid)).toEqual(['1', '2', '3', '4', '5']);
    const schema = loadVendoredOcsfSchema();
    expect(hec.events.flatMap((e) => validateOcsf(schema, e.record))).toEqual([]);
    expect(hec.refused).toEqual([]);
  });

  it('refuses the batch when HEC answers a non-zero code (an invalid token), naming the code and never the token', async () => {
    const hec = await startHecReceiver(tls, TOKEN);
    cleanups.push(hec.stop);
    const transport = closing(new SplunkHecTransport(sinkConfig({ name: 'splunk', type: 'splunk-hec', url: hec.url, token: 'not-the-token', tls: { ca: tls.ca } }) as never));
    const error = await refusal(transport.send(auditEvents(1).map((e) => exportItem(e, 'json')), signal()));
    expect(error).toBeInstanceOf(ExportNotAcknowledgedError);
    expect((error as Error).message).toBe('audit export splunk: batch not acknowledged (HTTP 403, HEC code 4)');
    expect(hec.events).toEqual([]);
  });

  it('refuses a receiver whose certificate the configured CA did not issue', async () => {
    const hec = await startHecReceiver(otherTls, TOKEN);
    cleanups.push(hec.stop);
    const transport = closing(new SplunkHecTransport(sinkConfig({ name: 'splunk', type: 'splunk-hec', url: hec.url, token: TOKEN, tls: { ca: tls.ca } }) as never));
    expect(await refusal(transport.send(auditEvents(1).map((e) => exportItem(e, 'json')), signal()))).toBeInstanceOf(ExportNotAcknowledgedError);
    expect(hec.events).toEqual([]);
  });
});

describe('OTLP logs over HTTP', () => {
  it('posts an ExportLogsServiceRequest to /v1/logs with the configured headers, the record as the body and the audit id as an attribute', async () => {
    const otlp = await startOtlpReceiver(tls, { name: 'Authorization', value: 'Bearer otlp-secret' });
    cleanups.push(otlp.stop);
    const transport = closing(new OtlpLogsTransport(sinkConfig({ name: 'otel', type: 'otlp', url: otlp.url, format: 'json', headers: { Authorization: 'Bearer otlp-secret' }, tls: { ca: tls.ca } }) as never, logger));
    const events = auditEvents(3);
    await transport.send(events.map((e) => exportItem(e, 'json')), signal());
    expect(otlp.ids()).toEqual(['1', '2', '3']);
    // The structured body maps back to the very event (the hash chain included).
    expect(otlp.events.map((e) => e.record)).toEqual(events);
  });

  it('refuses the batch on a non-2xx answer', async () => {
    const otlp = await startOtlpReceiver(tls, { name: 'Authorization', value: 'Bearer otlp-secret' });
    cleanups.push(otlp.stop);
    const transport = closing(new OtlpLogsTransport(sinkConfig({ name: 'otel', type: 'otlp', url: otlp.url, tls: { ca: tls.ca } }) as never, logger));
    const error = await refusal(transport.send(auditEvents(1).map((e) => exportItem(e, 'ocsf')), signal()));
    expect((error as Error).message).toBe('audit export otel: batch not acknowledged (HTTP 401)');
  });
});

const describeRsyslog = hasRsyslog() || isCi() ? describe : describe.skip;

describeRsyslog('syslog over TLS to rsyslog', () => {
  it('rsyslog receives RFC 5424 messages framed by octet counting, the id in the structured data and the type as MSGID', async () => {
    const rsyslog = await startRsyslog(tls);
    cleanups.push(rsyslog.stop);
    const transport = closing(new SyslogTlsTransport(sinkConfig({ name: 'syslog', type: 'syslog', host: '127.0.0.1', port: rsyslog.port, format: 'ocsf', tls: { ca: tls.ca, serverName: 'localhost' } }) as never));
    const events = auditEvents(5);
    await transport.send(events.map((e) => exportItem(e, 'ocsf')), signal());
    await expect.poll(() => rsyslog.received().length, { timeout: 10_000 }).toBe(5);
    const received = rsyslog.received();
    expect(received.map((m) => m.structuredData)).toEqual(events.map((e) => `[${SYSLOG_SD_ID} id="${e.id}" type="${e.type}" outcome="${e.outcome}"]`));
    expect(received.map((m) => m.msgid)).toEqual(events.map((e) => e.type));
    // Facility 13 (log audit): SUCCESS informational (6), DENIED notice (5).
    expect(received.map((m) => m.pri)).toEqual(events.map((e) => 13 * 8 + (e.outcome === 'DENIED' ? 5 : 6)));
    expect(received.map((m) => (m.record.metadata as { uid: string }).uid)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('presents the client certificate to a receiver that requires one (mutual TLS)', async () => {
    const rsyslog = await startRsyslog(tls, { clientAuth: true });
    cleanups.push(rsyslog.stop);
    const client = await issueClientCertificate(tls);
    const transport = closing(new SyslogTlsTransport(sinkConfig({ name: 'syslog', type: 'syslog', host: '127.0.0.1', port: rsyslog.port, format: 'json', tls: { ca: tls.ca, clientCertificate: client.cert, clientKey: client.privateKey } }) as never));
    await transport.send(auditEvents(2).map((e) => exportItem(e, 'json')), signal());
    await expect.poll(() => rsyslog.received().map((m) => m.record.id), { timeout: 10_000 }).toEqual(['1', '2']);
  });

  it('refuses a receiver whose certificate the configured CA did not issue', async () => {
    const rsyslog = await startRsyslog(otherTls);
    cleanups.push(rsyslog.stop);
    const transport = closing(new SyslogTlsTransport(sinkConfig({ name: 'syslog', type: 'syslog', host: '127.0.0.1', port: rsyslog.port, tls: { ca: tls.ca } }) as never));
    const error = await refusal(transport.send(auditEvents(1).map((e) => exportItem(e, 'json')), signal()));
    expect((error as Error).message).toBe('audit export syslog: batch not acknowledged (receiver certificate not trusted)');
    expect(rsyslog.received()).toEqual([]);
  });

  it('opens a new connection after the receiver restarted', async () => {
    const rsyslog = await startRsyslog(tls);
    cleanups.push(rsyslog.stop);
    const transport = closing(new SyslogTlsTransport(sinkConfig({ name: 'syslog', type: 'syslog', host: '127.0.0.1', port: rsyslog.port, format: 'json', tls: { ca: tls.ca } }) as never));
    await transport.send(auditEvents(1).map((e) => exportItem(e, 'json')), signal());
    // Written out before the kill: what rsyslog still buffers dies with it (TCP syslog has no acknowledgment).
    await expect.poll(() => rsyslog.received().length, { timeout: 10_000 }).toBe(1);
    await rsyslog.kill();
    await rsyslog.start();
    await transport.send(auditEvents(1, 2).map((e) => exportItem(e, 'json')), signal());
    await expect.poll(() => rsyslog.received().map((m) => m.record.id), { timeout: 10_000 }).toEqual(['1', '2']);
  });
});

describe('JSON-lines file', () => {
  const fileSink = (dir: string, over: Record<string, unknown> = {}) => sinkConfig({ name: 'archive', type: 'file', path: join(dir, 'audit.jsonl'), format: 'json', ...over }) as never;

  it('appends one record a line, and reads the last one back as what the file already holds', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-export-file-'));
    const transport = closing(new JsonLinesFileTransport(fileSink(dir), join(dir, 'audit.jsonl'), () => 0));
    expect(await transport.lastDelivered()).toBeNull();
    await transport.send(auditEvents(3).map((e) => exportItem(e, 'json')));
    await transport.send(auditEvents(2, 4).map((e) => exportItem(e, 'json')));
    const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(['1', '2', '3', '4', '5']);
    expect(await transport.lastDelivered()).toBe('5');
  });

  it('escapes what line-splitting readers take for a line break: a tool argument cannot forge a record', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-export-file-'));
    const path = join(dir, 'audit.jsonl');
    const transport = closing(new JsonLinesFileTransport(fileSink(dir), path, () => 0));
    const forged = 'x\u2028{"id":"99","type":"auth.login"}\u2029\u0085{"id":"98"}';
    const [event] = auditEvents(1);
    await transport.send([exportItem({ ...event!, data: { ...event!.data, note: forged } }, 'json')]);
    const text = readFileSync(path, 'utf8');
    // Python's str.splitlines() and a JavaScript /\r?\n|\u2028|\u2029|\u0085/ split both see one record.
    expect(text.split(/\r\n|[\n\r\v\f\u0085\u2028\u2029]/).filter(Boolean)).toHaveLength(1);
    expect((JSON.parse(text) as { data: { note: string } }).data.note).toBe(forged);
    expect(await transport.lastDelivered()).toBe('1');
  });

  it('reads the OCSF uid back, and passes over a line torn by a crash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-export-file-'));
    const path = join(dir, 'audit.jsonl');
    const transport = closing(new JsonLinesFileTransport(fileSink(dir, { format: 'ocsf' }), path, () => 0));
    await transport.send(auditEvents(2).map((e) => exportItem(e, 'ocsf')));
    writeFileSync(path, `${readFileSync(path, 'utf8')}{"class_uid":6003,"metada`);
    expect(await transport.lastDelivered()).toBe('2');
  });

  it('refuses a file whose last MiB holds no line break, and leaves it as it was', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-export-file-'));
    const path = join(dir, 'audit.jsonl');
    writeFileSync(path, 'x'.repeat(1536 * 1024));
    const transport = closing(new JsonLinesFileTransport(fileSink(dir), path, () => 0));
    await expect(transport.send(auditEvents(1).map((e) => exportItem(e, 'json')))).rejects.toThrow(/NOT_JSON_LINES/);
    await expect(transport.lastDelivered()).rejects.toThrow(/no line break/);
    expect(readFileSync(path, 'utf8')).toBe('x'.repeat(1536 * 1024));
  });

  it('undoes a write the disk refused part way: the batch sent again starts on a whole line, and nothing of the failed one stays', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-export-file-'));
    const path = join(dir, 'audit.jsonl');
    const line = (n: number) => `${JSON.stringify(exportItem(auditEvents(1, n)[0]!, 'json').record)}\n`;
    writeFileSync(path, [1, 2, 3].map(line).join(''));
    // A process whose file size limit (ulimit -f 4: 2 or 4 KiB, as the shell counts blocks) the
    // batch of 20 crosses is a disk filling up mid-write: the kernel writes what fits, whole
    // records and a torn one, then refuses the rest (EFBIG; Node ignores SIGXFSZ).
    const child = `
      import { JsonLinesFileTransport } from './server/export/jsonl-file.js';
      import { exportItem } from './server/export/export-record.js';
      import { auditEvents, sinkConfig } from './test/support/export-fixture.js';
      const transport = new JsonLinesFileTransport(sinkConfig({ name: 'archive', type: 'file', path: process.env.EXPORT_FILE, format: 'json' }), process.env.EXPORT_FILE, () => 0);
      const batch = (count) => auditEvents(count, 4).map((e) => exportItem(e, 'json'));
      const outcome = (items) => transport.send(items).then(() => 'sent', (error) => error.message);
      console.log(JSON.stringify([await outcome(batch(20)), await outcome(batch(1))]));
      await transport.close();`;
    const { stdout } = await promisify(execFile)('/bin/sh', ['-c', 'ulimit -f 4 && exec "$0" "$@"', process.execPath, '--import', 'tsx', '--input-type=module', '-e', child], {
      env: { PATH: process.env.PATH, EXPORT_FILE: path, TSX_DISABLE_CACHE: '1' },
    });
    expect(JSON.parse(stdout)).toEqual([expect.stringContaining('cannot write the file (EFBIG)'), 'sent']);
    expect(readFileSync(path, 'utf8')).toBe([1, 2, 3, 4].map(line).join(''));
  });

  it('rotates past maxBytes and past maxAgeSeconds, keeping the newest `keep` rotated files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-export-file-'));
    const clock = new ManualClock();
    const path = join(dir, 'audit.jsonl');
    const transport = closing(new JsonLinesFileTransport(fileSink(dir, { maxBytes: 1024, maxAgeSeconds: 3600, keep: 2 }), path, () => clock.now()));
    // Each batch of 4 events is over 1 KiB: the next batch goes to a fresh file.
    for (let batch = 0; batch < 4; batch++) await transport.send(auditEvents(4, 1 + batch * 4).map((e) => exportItem(e, 'json')));
    expect(readdirSync(dir).sort()).toEqual(['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2']);
    const ids = (file: string) => readFileSync(join(dir, file), 'utf8').trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id);
    expect(ids('audit.jsonl')).toEqual(['13', '14', '15', '16']);
    expect(ids('audit.jsonl.2')).toEqual(['5', '6', '7', '8']);
    // By age: a small batch, an hour later, starts a new file.
    const small = closing(new JsonLinesFileTransport(fileSink(dir, { maxBytes: 1 << 20, maxAgeSeconds: 3600, keep: 2 }), join(dir, 'small.jsonl'), () => clock.now()));
    await small.send(auditEvents(1, 20).map((e) => exportItem(e, 'json')));
    clock.advance(3600_000);
    await small.send(auditEvents(1, 21).map((e) => exportItem(e, 'json')));
    expect(ids('small.jsonl')).toEqual(['21']);
    expect(ids('small.jsonl.1')).toEqual(['20']);
  });
});
