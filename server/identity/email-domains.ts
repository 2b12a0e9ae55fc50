import { emailKey } from './email-key.js';

/**
 * Which email domains an IdP may vouch for (`identityProviders[].emailDomains`). Email is
 * what roles and the audit log know people by, so with several IdPs an email must have
 * exactly one IdP that may assert it; otherwise any federated IdP could sign in as anyone.
 *
 * A pattern is `example.com` (that domain only) or `*.example.com` (its subdomains only),
 * lower-case; domains compare case-insensitively (RFC 4343).
 */

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
/** A host name of 1 to 253 characters, optionally behind `*.`. */
export const EMAIL_DOMAIN_PATTERN = new RegExp(`^(?=.{1,255}$)(?:\\*\\.)?(?:${LABEL}\\.)*${LABEL}$`);

/** An email address as Portcullis accepts one (from an IdP, or typed by a person): bounded, no spaces or markup characters. */
export const EMAIL_ADDRESS = /^[^\s@<>"]{1,64}@[^\s@<>"]{1,255}$/;

/** The domain of an address: what follows its last `@`, its ASCII letters lower-cased (email-key.ts). */
export function domainOf(email: string): string {
  return emailKey(email.slice(email.lastIndexOf('@') + 1));
}

function matches(pattern: string, domain: string): boolean {
  return pattern.startsWith('*.') ? domain.endsWith(pattern.slice(1)) : domain === pattern;
}

/** Whether an address lies in one of the patterns; no patterns (`undefined`) allows any. */
export function emailAllowed(email: string, patterns: readonly string[] | undefined): boolean {
  if (patterns === undefined) return true;
  const domain = domainOf(email);
  return patterns.some((pattern) => matches(pattern, domain));
}

/** Whether some domain matches both patterns. */
export function patternsOverlap(a: string, b: string): boolean {
  const wild = (p: string) => p.startsWith('*.');
  if (!wild(a) && !wild(b)) return a === b;
  if (wild(a) && wild(b)) return matches(a, b.slice(2)) || matches(b, a.slice(2)) || a === b;
  return wild(a) ? matches(a, b) : matches(b, a);
}
