import { z } from 'zod';
import { isLoopbackHost } from '../http/loopback-host.js';
import { positiveInt, text } from '../config/fields.js';
import { sinkName, sinkTimeoutMs } from './sink-config.js';

/**
 * The `email` variant of `notifications.sinks` (joined to the union in server/config/schema.ts).
 * Mail to reviewers names people, servers and reasons: it goes over TLS (implicit, or
 * STARTTLS required) unless the relay is on this very machine and the operator says so.
 */

/** A plain addr-spec (`local@domain`): no display name, comma, angle bracket or line break, so one string is one mailbox. */
export const MAILBOX = /^[^\s@<>()",;:\\[\]]+@[^\s@<>()",;:\\[\]]+$/;

const mailbox = z.string({ error: 'expected an email address' }).trim().regex(MAILBOX, 'expected a plain email address (local@domain)');
const flag = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean({ error: 'expected true or false' }));

const smtp = z
  .strictObject({
    host: text('the SMTP relay host'),
    port: positiveInt(65_535).default(587),
    /** Implicit TLS from the first byte (port 465); otherwise STARTTLS. */
    secure: flag.default(false),
    requireTLS: flag.default(true),
    /** Loopback only: a relay on this machine (tests, a local MTA) may be spoken to in plaintext. */
    allowPlaintext: flag.default(false),
    /** PEM of a private CA that issued the relay's certificate (by ${file:...}); the system CAs otherwise. */
    ca: text('a PEM certificate').optional(),
    auth: z.strictObject({ user: text('the SMTP user'), pass: text('the SMTP password (a ${env:...} or ${file:...} reference)') }).optional(),
  })
  .superRefine((value, ctx) => {
    if (value.allowPlaintext && !isLoopbackHost(value.host)) {
      ctx.addIssue({ code: 'custom', path: ['allowPlaintext'], message: 'allowPlaintext is accepted only for a loopback host (127.0.0.1, ::1, localhost): mail elsewhere goes over TLS' });
    }
    if (!value.requireTLS && !value.secure && !value.allowPlaintext) {
      ctx.addIssue({ code: 'custom', path: ['requireTLS'], message: 'requireTLS: false would send in plaintext when the relay offers no STARTTLS; use secure: true, or allowPlaintext for a loopback relay' });
    }
  });

export const emailSinkConfig = z.strictObject({
  type: z.literal('email'),
  name: sinkName,
  smtp,
  from: mailbox,
  /** Always told, besides the reviewers the dispatcher names for each delivery. */
  to: z.array(mailbox).default([]),
  /** Per SMTP step (connect, greeting, each command). */
  timeoutMs: sinkTimeoutMs,
});

export type EmailSinkConfig = z.infer<typeof emailSinkConfig>;
