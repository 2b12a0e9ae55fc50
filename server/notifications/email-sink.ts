import { builtOrRefused } from './message-content.js';
import { createTransport } from 'nodemailer';
import type { Logger } from '../log.js';
import { MAILBOX } from './email-config.js';
import type { EmailSinkConfig } from './email-config.js';
import { composeEmail } from './email-message.js';
import type { Delivery, DeliveryOutcome, NotificationSink } from './types.js';

/** What nodemailer puts on the errors it rejects with (its NodemailerError, read loosely). */
interface SmtpFailure {
  code?: string;
  responseCode?: number;
  permanent?: boolean;
}

/**
 * Failures without an SMTP reply, by nodemailer's code: all worth another try later except
 * refused credentials, which only an operator can fix (the dead letter's retry action then).
 */
const FAILURES: Record<string, { retry: boolean; error: string }> = {
  ECONNECTION: { retry: true, error: 'smtp connection failed' },
  ESOCKET: { retry: true, error: 'smtp connection failed' },
  EDNS: { retry: true, error: 'smtp host not resolved' },
  ETIMEDOUT: { retry: true, error: 'smtp timed out' },
  ETLS: { retry: true, error: 'smtp TLS unavailable or failed' },
  EABORT: { retry: true, error: 'aborted' },
  EAUTH: { retry: false, error: 'smtp authentication refused' },
};

/**
 * The email sink: one message per delivery through an SMTP relay. No pool: deliveries are
 * rare and a connection per message keeps a stuck relay from holding later ones.
 */
export class EmailSink implements NotificationSink {
  readonly name: string;
  private readonly transport;
  private readonly fromDomain: string;

  constructor(
    private readonly config: EmailSinkConfig,
    private readonly logger?: Logger,
  ) {
    this.name = config.name;
    this.fromDomain = config.from.slice(config.from.lastIndexOf('@') + 1);
    const { smtp } = config;
    this.transport = createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      // STARTTLS or nothing: without it a relay that drops the capability (or a man in the middle stripping it) would get the mail in clear.
      requireTLS: !smtp.secure && smtp.requireTLS && !smtp.allowPlaintext,
      ...(smtp.ca === undefined ? {} : { tls: { ca: smtp.ca } }),
      ...(smtp.auth === undefined ? {} : { auth: { user: smtp.auth.user, pass: smtp.auth.pass } }),
      connectionTimeout: config.timeoutMs,
      greetingTimeout: config.timeoutMs,
      socketTimeout: config.timeoutMs,
      dnsTimeout: config.timeoutMs,
      // nodemailer's own logging would write SMTP traffic, AUTH included.
      logger: false,
      debug: false,
    });
  }

  async deliver(delivery: Delivery, signal: AbortSignal): Promise<DeliveryOutcome> {
    const recipients = recipientsOf(delivery.recipients, this.config.to);
    if (recipients.length === 0) return this.failed(delivery, { ok: false, retry: false, error: 'no recipients' });
    const message = builtOrRefused(() => composeEmail(delivery, this.fromDomain));
    if ('ok' in message) return this.failed(delivery, message);
    try {
      const info = await this.transport.sendMail({
        from: this.config.from,
        to: recipients,
        subject: message.subject,
        text: message.text,
        html: message.html,
        messageId: message.messageId,
        ...(message.inReplyTo === undefined ? {} : { inReplyTo: message.inReplyTo, references: [message.inReplyTo] }),
        signal,
      });
      // Some recipients refused, others took it: a retry would mail the others twice, so it counts as sent.
      if (info.rejected.length > 0) this.logger?.warn({ sink: this.name, delivery: delivery.id, refused: info.rejected.length }, 'email: some recipients refused');
      return { ok: true };
    } catch (error) {
      return this.failed(delivery, outcomeOf(error as SmtpFailure));
    }
  }

  private failed(delivery: Delivery, outcome: Extract<DeliveryOutcome, { ok: false }>): DeliveryOutcome {
    this.logger?.warn({ sink: this.name, delivery: delivery.id, attempt: delivery.attempt, error: outcome.error, retry: outcome.retry }, 'email: delivery failed');
    return outcome;
  }
}

/**
 * The server's reply text is never kept: it may quote what was sent (addresses, AUTH
 * exchanges). RFC 5321 §4.2.1: 4yz is transient, 5yz permanent; nodemailer treats 503
 * (a session in the wrong state) as transient, and says so in `permanent`.
 */
function outcomeOf(failure: SmtpFailure): Extract<DeliveryOutcome, { ok: false }> {
  // A refused STARTTLS carries the relay's code, but what matters is that nothing was sent in clear.
  if (typeof failure.responseCode === 'number' && failure.code !== 'ETLS') {
    const permanent = failure.permanent ?? (failure.responseCode >= 500 && failure.responseCode !== 503);
    return { ok: false, retry: !permanent, error: `smtp ${failure.responseCode}` };
  }
  return { ok: false, ...(FAILURES[failure.code ?? ''] ?? { retry: true, error: 'smtp failed' }) };
}

/** Delivery recipients and the fixed list, each mailbox once (compared without case) and only well-formed ones. */
function recipientsOf(named: readonly string[], fixed: readonly string[]): string[] {
  const seen = new Map<string, string>();
  for (const address of [...named, ...fixed]) {
    const trimmed = address.trim();
    if (MAILBOX.test(trimmed) && !seen.has(trimmed.toLowerCase())) seen.set(trimmed.toLowerCase(), trimmed);
  }
  return [...seen.values()];
}
