import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  /** Whether the session was over TLS (implicit or STARTTLS) when the message was sent. */
  secure: boolean;
  raw: string;
}

export interface SmtpReceiverOptions {
  /** Offer STARTTLS with this certificate; without it the server offers no TLS at all. */
  tls?: { cert: string; key: string };
  /** Require AUTH PLAIN/LOGIN with these credentials. */
  auth?: { user: string; pass: string };
  /** Answer DATA with this code, `times` times, then accept. */
  refuse?: { code: number; times: number };
}

export interface SmtpReceiver {
  port: number;
  mails: ReceivedMail[];
  /** DATA commands answered (refused or accepted). */
  attempts: number;
  close(): Promise<void>;
}

/** A real SMTP server (smtp-server) on 127.0.0.1 and a free port, recording what it accepts. */
export async function startSmtpReceiver(options: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
  const mails: ReceivedMail[] = [];
  const state = { attempts: 0 };
  const server = new SMTPServer({
    logger: false,
    ...(options.tls === undefined ? { disabledCommands: ['STARTTLS'] } : { key: options.tls.key, cert: options.tls.cert }),
    authOptional: options.auth === undefined,
    allowInsecureAuth: false,
    onAuth(auth, _session, done) {
      if (options.auth !== undefined && auth.username === options.auth.user && auth.password === options.auth.pass) done(null, { user: auth.username });
      else done(new Error('Invalid username or password'));
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, done) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        state.attempts += 1;
        if (options.refuse !== undefined && state.attempts <= options.refuse.times) {
          done(Object.assign(new Error(`refused, as this test asks (${options.refuse.code})`), { responseCode: options.refuse.code }));
          return;
        }
        mails.push({
          from: session.envelope.mailFrom === false ? '' : session.envelope.mailFrom.address,
          to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
          secure: session.secure,
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        done();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    mails,
    get attempts() {
      return state.attempts;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface ParsedMail {
  headers: Map<string, string>;
  text: string;
  html: string;
}

/**
 * Enough of RFC 5322/2045 to read what nodemailer writes: unfolded headers (encoded words
 * decoded), and the text/plain and text/html parts of a multipart/alternative body
 * (quoted-printable, base64 or 7bit).
 */
export function parseMail(raw: string): ParsedMail {
  const { headers, body } = splitEntity(raw);
  const parts = { text: '', html: '' };
  const boundary = /boundary="?([^";]+)"?/i.exec(headers.get('content-type') ?? '')?.[1];
  const entities = boundary === undefined ? [raw] : body.split(`--${boundary}`).slice(1, -1);
  for (const entity of entities) {
    const part = splitEntity(entity.replace(/^\r\n/, ''));
    const content = decodeBody(part.body, part.headers.get('content-transfer-encoding') ?? '7bit');
    const type = part.headers.get('content-type') ?? 'text/plain';
    if (type.startsWith('text/html')) parts.html = content;
    else if (type.startsWith('text/plain')) parts.text = content;
  }
  return { headers, ...parts };
}

function splitEntity(raw: string): { headers: Map<string, string>; body: string } {
  const end = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, end).replace(/\r\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':');
    headers.set(line.slice(0, colon).trim().toLowerCase(), decodeWords(line.slice(colon + 1).trim()));
  }
  return { headers, body: raw.slice(end + 4) };
}

function decodeBody(body: string, encoding: string): string {
  if (/base64/i.test(encoding)) return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (/quoted-printable/i.test(encoding)) return quotedPrintable(body.replace(/=\r\n/g, ''));
  return body;
}

function quotedPrintable(text: string): string {
  return Buffer.from(text.replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1').toString('utf8');
}

function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?utf-8\?([bq])\?([^?]*)\?=/gi, (_m, kind: string, data: string) =>
      kind.toLowerCase() === 'b' ? Buffer.from(data, 'base64').toString('utf8') : quotedPrintable(data.replace(/_/g, ' ')),
    );
}
