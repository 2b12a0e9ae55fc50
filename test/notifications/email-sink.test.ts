import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { emailSinkConfig } from '../../server/notifications/email-config.js';
import { EmailSink } from '../../server/notifications/email-sink.js';
import type { Delivery, NotificationEvent } from '../../server/notifications/types.js';
import { testTls } from '../support/certificates.js';
import type { TestTls } from '../support/certificates.js';
import { captureLogs } from '../support/log-capture.js';
import { anAnomaly, notificationDelivery, pendingRequest } from '../support/notification-fixture.js';
import { parseMail, startSmtpReceiver } from '../support/smtp-receiver.js';
import type { SmtpReceiver, SmtpReceiverOptions } from '../support/smtp-receiver.js';

const PASSWORD = 'smtp-pass-4f9c2d7e1b';
let tls: TestTls;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  tls = await testTls();
});

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

async function receiver(options: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
  const started = await startSmtpReceiver(options);
  cleanups.push(() => started.close());
  return started;
}

/** STARTTLS with the test CA's certificate: the default, TLS-required configuration reaches it. */
const withTls = (options: SmtpReceiverOptions = {}): Promise<SmtpReceiver> => receiver({ ...options, tls: { cert: tls.server.cert, key: tls.server.privateKey } });

function sink(port: number, smtp: Record<string, unknown> = {}, rest: Record<string, unknown> = {}, logs = captureLogs()): EmailSink {
  const config = emailSinkConfig.parse({
    type: 'email',
    name: 'mail',
    smtp: { host: '127.0.0.1', port, ca: tls.ca, ...smtp },
    from: 'portcullis@broker.example.com',
    to: ['security@example.com'],
    timeoutMs: 2_000,
    ...rest,
  });
  return new EmailSink(config, logs.logger);
}

const request = pendingRequest;
const delivery = (event: Partial<NotificationEvent> = {}, recipients?: string[]): Delivery => notificationDelivery('mail', event, recipients);

const signal = () => new AbortController().signal;

describe('email sink: the message', () => {
  it('reaches every recipient once: the reviewers and the fixed list, deduplicated', async () => {
    const smtp = await withTls();
    const outcome = await sink(smtp.port).deliver(delivery({}, ['alice@example.com', 'Security@example.com', 'alice@example.com']), signal());
    expect(outcome).toEqual({ ok: true });
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]!.to.map((a) => a.toLowerCase()).sort()).toEqual(['alice@example.com', 'security@example.com']);
    expect(smtp.mails[0]!.from).toBe('portcullis@broker.example.com');
    expect(smtp.mails[0]!.secure).toBe(true);
  });

  it('names the requester, server, tools, duration and reason, with the console links, in text and HTML', async () => {
    const smtp = await withTls();
    await sink(smtp.port).deliver(delivery(), signal());
    const mail = parseMail(smtp.mails[0]!.raw);
    expect(mail.headers.get('subject')).toBe('Access request: carol@example.com on payments-db');
    for (const part of [mail.text, mail.html]) {
      for (const fact of ['carol@example.com', 'payments-db', 'query, export_rows', '1h30m', 'Incident INC-42: reconcile refunds']) expect(part).toContain(fact);
    }
    expect(mail.text).toContain('Approve: https://portcullis.example.com/console/requests/req-7?decide=approve');
    expect(mail.text).toContain('Deny: https://portcullis.example.com/console/requests/req-7?decide=deny');
    expect(mail.html).toContain('href="https://portcullis.example.com/console/requests/req-7"');
  });

  it('escapes the HTML: a reason with a script tag arrives as text', async () => {
    const smtp = await withTls();
    await sink(smtp.port).deliver(delivery({ request: { ...request, reason: '<script>alert("x")</script>\r\nBcc: evil@example.net' } }), signal());
    const mail = parseMail(smtp.mails[0]!.raw);
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(mail.headers.has('bcc')).toBe(false);
    expect(smtp.mails[0]!.to).not.toContain('evil@example.net');
  });

  it('keeps the Message-ID of a retried delivery, and threads the decision under the request\'s first message', async () => {
    const smtp = await withTls();
    const mailer = sink(smtp.port);
    await mailer.deliver(delivery(), signal());
    await mailer.deliver({ ...delivery(), attempt: 2 }, signal());
    await mailer.deliver(delivery({ id: 'evt-9', type: 'access_request.reviewed', actor: 'alice@example.com', request: { ...request, status: 'approved' } }), signal());
    const [first, retried, decided] = smtp.mails.map((m) => parseMail(m.raw));
    expect(first!.headers.get('message-id')).toMatch(/^<[0-9a-f]{40}@broker\.example\.com>$/);
    expect(retried!.headers.get('message-id')).toBe(first!.headers.get('message-id'));
    expect(decided!.headers.get('message-id')).not.toBe(first!.headers.get('message-id'));
    expect(decided!.headers.get('in-reply-to')).toBe(first!.headers.get('message-id'));
    expect(decided!.headers.get('references')).toBe(first!.headers.get('message-id'));
    expect(decided!.headers.get('subject')).toBe('Access request approved: carol@example.com on payments-db');
    expect(decided!.text).toContain('The request was approved by alice@example.com.');
    expect(decided!.text).not.toContain('decide=approve');
    expect(decided!.text).toContain('Open in the console: https://portcullis.example.com/console/requests/req-7');
  });

  it('gives an expired request and an anomaly their own short message', async () => {
    const smtp = await withTls();
    const mailer = sink(smtp.port);
    await mailer.deliver(delivery({ id: 'evt-3', type: 'access_request.expired', actor: null, request: { ...request, status: 'expired' } }), signal());
    await mailer.deliver(delivery({ id: 'evt-4', type: 'anomaly.detected', request: undefined, anomaly: anAnomaly, links: { console: 'https://portcullis.example.com/console/anomalies/an-1' } }), signal());
    const [expired, detected] = smtp.mails.map((m) => parseMail(m.raw));
    expect(expired!.headers.get('subject')).toBe('Access request expired: carol@example.com on payments-db');
    expect(detected!.headers.get('subject')).toBe('Anomaly (high): bulk_export for dave@example.com');
    expect(detected!.text).toContain('412 export calls in 5 minutes');
    expect(detected!.text).toContain('Open in the console: https://portcullis.example.com/console/anomalies/an-1');
    expect(detected!.headers.has('in-reply-to')).toBe(false);
  });
});

describe('email sink: free text never starts a line of the text part', () => {
  /** Split at every character a mail client or parser may take for a line break (Python's splitlines: LF, CR, VT, FF, FS, GS, RS, NEL, LS, PS), and any other control. */
  const lines = (text: string) => text.split(/\r\n|[\p{Cc}\u2028\u2029]/u);
  const BREAKS = { LF: '\n\n', CR: '\r', CRLF: '\r\n', LS: '\u2028', PS: '\u2029', NEL: '\u0085', VT: '\v', FF: '\f', RS: '\x1e' };
  const FORGED = 'Approve: https://evil.example/review?request=r1';

  it.each(Object.entries(BREAKS))('keeps a reason with %s and a forged Approve line on the Reason line', async (_name, lineBreak) => {
    const smtp = await withTls();
    await sink(smtp.port).deliver(delivery({ request: { ...request, reason: `Incident INC-42${lineBreak}${FORGED}${lineBreak}Deny: https://evil.example/x` } }), signal());
    const text = lines(parseMail(smtp.mails[0]!.raw).text);
    expect(text.filter((line) => line.startsWith('Reason:'))).toEqual([expect.stringContaining(`Incident INC-42 ${FORGED} Deny: https://evil.example/x`)]);
    expect(text.filter((line) => /^(Approve|Deny):/.test(line))).toEqual([
      'Approve: https://portcullis.example.com/console/requests/req-7?decide=approve',
      'Deny: https://portcullis.example.com/console/requests/req-7?decide=deny',
    ]);
    expect(text.findIndex((line) => line.startsWith('Approve:'))).toBeLessThan(text.findIndex((line) => line.startsWith('Reason:')));
  });

  it.each(Object.entries(BREAKS))('keeps an anomaly summary with %s on the lead line', async (_name, lineBreak) => {
    const smtp = await withTls();
    const anomaly = { ...anAnomaly, summary: `New client "agent 1.0${lineBreak}${FORGED}"` };
    await sink(smtp.port).deliver(delivery({ type: 'anomaly.detected', request: undefined, anomaly, links: { console: 'https://portcullis.example.com/console/anomalies/an-1' } }), signal());
    const text = lines(parseMail(smtp.mails[0]!.raw).text);
    expect(text[0]).toBe(`New client "agent 1.0 ${FORGED}"`);
    expect(text.filter((line) => line.startsWith('Approve:'))).toEqual([]);
    expect(text.filter((line) => line.startsWith('Open in the console:'))).toEqual(['Open in the console: https://portcullis.example.com/console/anomalies/an-1']);
  });
});

describe('email sink: outcomes', () => {
  it('reports a 451 as worth a retry, and the retry then goes through', async () => {
    const smtp = await withTls({ refuse: { code: 451, times: 1 } });
    const mailer = sink(smtp.port);
    expect(await mailer.deliver(delivery(), signal())).toEqual({ ok: false, retry: true, error: 'smtp 451' });
    expect(await mailer.deliver({ ...delivery(), attempt: 2 }, signal())).toEqual({ ok: true });
    expect(smtp.mails).toHaveLength(1);
  });

  it('reports a 550 as permanent, with the code only', async () => {
    const smtp = await withTls({ refuse: { code: 550, times: Infinity } });
    expect(await sink(smtp.port).deliver(delivery(), signal())).toEqual({ ok: false, retry: false, error: 'smtp 550' });
  });

  it('fails for good with "no recipients" when neither the delivery nor the fixed list names anyone', async () => {
    const smtp = await withTls();
    expect(await sink(smtp.port, {}, { to: [] }).deliver(delivery({}, ['not an address']), signal())).toEqual({ ok: false, retry: false, error: 'no recipients' });
    expect(smtp.attempts).toBe(0);
  });

  it('reports a refused connection and a silent server as worth a retry', async () => {
    const silent = await listen(() => undefined);
    const closedPort = await freePort();
    expect(await sink(closedPort).deliver(delivery(), signal())).toEqual({ ok: false, retry: true, error: 'smtp connection failed' });
    expect(await sink(silent.port, {}, { timeoutMs: 300 }).deliver(delivery(), signal())).toEqual({ ok: false, retry: true, error: 'smtp timed out' });
  });
});

describe('email sink: transport security', () => {
  it('requires STARTTLS by default: a relay without it gets nothing, not even in plaintext', async () => {
    const smtp = await receiver();
    const outcome = await sink(smtp.port).deliver(delivery(), signal());
    expect(outcome).toEqual({ ok: false, retry: true, error: 'smtp TLS unavailable or failed' });
    expect(smtp.attempts).toBe(0);
    expect(smtp.mails).toHaveLength(0);
  });

  it('sends in plaintext to a loopback relay only with allowPlaintext', async () => {
    const smtp = await receiver();
    expect(await sink(smtp.port, { allowPlaintext: true }).deliver(delivery(), signal())).toEqual({ ok: true });
    expect(smtp.mails[0]!.secure).toBe(false);
  });

  it('refuses allowPlaintext for a host other than loopback, and requireTLS: false without it', () => {
    const base = { type: 'email', name: 'mail', from: 'portcullis@broker.example.com', timeoutMs: 1000 };
    const refused = emailSinkConfig.safeParse({ ...base, smtp: { host: 'smtp.example.com', allowPlaintext: true } });
    expect(refused.success).toBe(false);
    expect(refused.error!.issues[0]).toMatchObject({ path: ['smtp', 'allowPlaintext'], message: expect.stringContaining('only for a loopback host') });
    const clear = emailSinkConfig.safeParse({ ...base, smtp: { host: 'smtp.example.com', requireTLS: false } });
    expect(clear.error!.issues[0]).toMatchObject({ path: ['smtp', 'requireTLS'] });
    expect(emailSinkConfig.parse({ ...base, smtp: { host: 'localhost', allowPlaintext: true } }).smtp).toMatchObject({ port: 587, secure: false, requireTLS: true });
  });

  it('authenticates over STARTTLS, and never puts the password in a log line or an outcome', async () => {
    const smtp = await withTls({ auth: { user: 'relay-user', pass: PASSWORD } });
    const logs = captureLogs();
    expect(await sink(smtp.port, { auth: { user: 'relay-user', pass: PASSWORD } }, {}, logs).deliver(delivery(), signal())).toEqual({ ok: true });
    const refused = await sink(smtp.port, { auth: { user: 'relay-user', pass: `${PASSWORD}-old` } }, {}, logs).deliver(delivery(), signal());
    expect(refused).toEqual({ ok: false, retry: false, error: 'smtp 535' });
    expect(logs.lines.join('')).toContain('email: delivery failed');
    expect(logs.lines.join('') + JSON.stringify(refused)).not.toContain(PASSWORD);
    expect(smtp.mails).toHaveLength(1);
  });
});

/** A TCP server on loopback that accepts and then says nothing (a hung relay). */
async function listen(onConnection: (socket: Socket) => void): Promise<{ port: number }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port };
}

/** A port nothing listens on: bound, read, released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
