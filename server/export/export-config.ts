import { createPrivateKey } from 'node:crypto';
import { z } from 'zod';
import { numeric, pemCertificate, secretSafeUrl } from '../config/fields.js';
import { sinkName, sinkTimeoutMs } from '../notifications/sink-config.js';

/**
 * `audit.export` (issue 20): sinks the audit log is exported to, each from its own durable
 * cursor (server/export/exporter.ts). A discriminated union on `type`; secrets (the HEC
 * token, OTLP headers, a client key) by ${env:...} or ${file:...}, redacted in
 * server/config/redact.ts. docs/siem.md says which sink and format fits which SIEM.
 */

const integer = (min: number, max: number) => numeric(z.number({ error: 'expected an integer' }).int('expected an integer').min(min, `expected at least ${min}`).max(max, `expected at most ${max}`));

const pemPrivateKey = z
  .string({ error: 'expected a PEM private key' })
  .trim()
  .refine((pem) => {
    try {
      createPrivateKey(pem);
      return true;
    } catch {
      return false;
    }
  }, 'expected a PEM-encoded private key (unencrypted PKCS#8, PKCS#1 or SEC1)');

/**
 * How the broker checks the receiver, and proves itself when asked. The receiver's
 * certificate is always verified (against `ca`, else the system's trust store) and its
 * name matched (`serverName`, else the host): there is no switch to turn that off.
 */
const tlsClient = z
  .strictObject({
    // A private CA's certificate (${file:...}): trusted instead of the system's store.
    ca: pemCertificate.optional(),
    // The name the receiver's certificate must carry, when the URL or host is an address.
    serverName: z.string({ error: 'expected a host name' }).trim().min(1, 'expected a host name').optional(),
    // Mutual TLS (RFC 5425 §5.3 for syslog): both or neither.
    clientCertificate: pemCertificate.optional(),
    clientKey: pemPrivateKey.optional(),
  })
  .refine((t) => (t.clientCertificate === undefined) === (t.clientKey === undefined), { message: 'expected clientCertificate and clientKey together', path: ['clientKey'] })
  .default({});

/** Keys every export sink has. */
const exportSinkBase = {
  name: sinkName,
  // `ocsf`: OCSF objects (clients/audit/ocsf.ts); `json`: the audit event as the log holds it.
  format: z.enum(['ocsf', 'json'], { error: 'expected a format: ocsf or json' }).default('ocsf'),
  // Events sent (and acknowledged) together at most; the cursor moves per acknowledged batch.
  batchSize: integer(1, 10_000).default(500),
  timeoutMs: sinkTimeoutMs,
};

const splunkHec = z.strictObject({
  ...exportSinkBase,
  type: z.literal('splunk-hec'),
  // The HEC base (https://splunk.example.com:8088): events go to /services/collector/event.
  url: secretSafeUrl('the HEC base URL'),
  token: z.string({ error: 'expected the HEC token (use ${env:NAME} or ${file:PATH})' }).trim().min(1, 'expected the HEC token'),
  index: z.string().trim().min(1).optional(),
  sourcetype: z.string().trim().min(1).default('portcullis:audit'),
  tls: tlsClient,
});

const syslog = z.strictObject({
  ...exportSinkBase,
  type: z.literal('syslog'),
  host: z.string({ error: 'expected the receiver host' }).trim().min(1, 'expected the receiver host'),
  // 6514: syslog over TLS (RFC 5425 §4.1).
  port: integer(1, 65535).default(6514),
  // RFC 5424 APP-NAME and HOSTNAME; the hostname defaults to this machine's.
  appName: z.string().regex(/^[\x21-\x7e]{1,48}$/, 'expected printable ASCII without spaces, at most 48 characters').default('portcullis'),
  hostname: z.string().regex(/^[\x21-\x7e]{1,255}$/, 'expected printable ASCII without spaces, at most 255 characters').optional(),
  // RFC 5424 facility code; 13 is "log audit".
  facility: integer(0, 23).default(13),
  tls: tlsClient,
});

const otlp = z.strictObject({
  ...exportSinkBase,
  type: z.literal('otlp'),
  // The OTLP/HTTP base (https://collector:4318): logs go to /v1/logs.
  url: secretSafeUrl('the OTLP/HTTP base URL'),
  // Sent with every request (authorization, a tenant): each value a secret.
  headers: z.record(z.string().regex(/^[A-Za-z0-9-]+$/, 'expected a header name'), z.string({ error: 'expected a string' })).default({}),
  tls: tlsClient,
});

const file = z.strictObject({
  ...exportSinkBase,
  type: z.literal('file'),
  // JSON lines, one event a line; relative to the config file's directory.
  path: z.string({ error: 'expected a file path' }).trim().min(1, 'expected a file path'),
  // The file is rotated (renamed <path>.1, older ones shifted up) past either bound.
  maxBytes: integer(1024, 2 ** 40).default(100 * 1024 * 1024),
  maxAgeSeconds: integer(60, 366 * 86400).default(86400),
  // Rotated files kept; the oldest beyond go.
  keep: integer(1, 1000).default(7),
});

export const exportSink = z.discriminatedUnion('type', [splunkHec, syslog, otlp, file], { error: 'expected an export sink type: splunk-hec, syslog, otlp or file' });

export const auditExportSection = z.strictObject({ sinks: z.array(exportSink).max(20).default([]) }).default({ sinks: [] });

export type ExportSinkConfig = z.output<typeof exportSink>;
export type TlsClientConfig = z.output<typeof tlsClient>;
