/**
 * An email address as Portcullis compares it: ASCII letters lowercased, nothing else
 * folded. `toLowerCase` maps other characters onto ASCII ones (U+212A KELVIN SIGN to `k`,
 * U+0130 to `i̇`), so an IdP that lets users pick `\u212Aate@corp.com` would be matched as
 * `kate@corp.com`; folding ASCII only keeps such an address distinct.
 */
export function emailKey(email: string): string {
  return email.replace(/[A-Z]+/g, (letters) => letters.toLowerCase());
}

export function sameEmail(a: string, b: string): boolean {
  return emailKey(a) === emailKey(b);
}
