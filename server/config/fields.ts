import { X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { isLoopbackHost } from '../http/loopback-host.js';

/**
 * Field shapes the config's sections share, the sinks' own variants
 * (server/notifications/*-config.ts) as well as server/config/schema.ts: in a module of
 * their own, so both import them without a cycle (schema.ts imports the sink variants).
 */

// Values from ${env:...} arrive as strings; accept "8080" where a number is expected.
export const numeric = (schema: z.ZodNumber) =>
  z.preprocess((v) => (typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v), schema);

export const positiveInt = (max?: number) => {
  let n = z.number({ error: 'expected a positive integer' }).int('expected a positive integer').positive('expected a positive integer');
  if (max !== undefined) n = n.max(max, `expected at most ${max}`);
  return numeric(n);
};

export const text = (what = 'a non-empty string') => z.string({ error: `expected ${what}` }).trim().min(1, `expected ${what}`);

/** Identifiers that appear in URLs (`/auth/saml/:idp`, `/mcp/ws/:server`) and delivery ids (`<sink>:<event id>`): DNS-label-like. */
export const slug = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, `expected ${what}: lowercase letters, digits and inner hyphens, at most 63 characters`);

/** A PEM X.509 certificate (a trust anchor, a client certificate), checked when the config loads rather than at the first connection. */
export const pemCertificate = text('a PEM certificate').refine((v) => {
  try {
    new X509Certificate(v);
    return true;
  } catch {
    return false;
  }
}, 'expected a PEM-encoded X.509 certificate');

/** https, or plain http to this very machine (a local collector, a test receiver): what carries a bearer secret (a webhook URL, a token beside it) never crosses a network in the clear. */
export const secretSafeUrl = (what: string) =>
  z
    .string({ error: `expected ${what}` })
    .trim()
    .refine((v) => {
      try {
        const url = new URL(v);
        return (url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))) && url.username === '' && url.password === '';
      } catch {
        return false;
      }
    }, `expected ${what}: an https URL without credentials (http only on a loopback address)`);
