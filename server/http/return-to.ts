const PROBE_ORIGIN = 'http://return-to.invalid';

/**
 * A redirect target on our own origin, or null: the only kind of Location the broker
 * derives from request input (returnTo at the login start, RelayState at the ACS; the
 * latter is unsigned, so anyone can set it). An open redirect turns our login into a
 * phishing hop.
 *
 * The decision is made on the normalised path, the one the browser will be sent: URL
 * parsing resolves dot segments, including percent-encoded ones (`/..//evil.example/x`
 * and `/%2e%2e//x` both become `//x`, which a browser reads as another host). Checking
 * the input instead is what let those through. Control characters are refused before
 * parsing, since the URL parser (like browsers) silently drops tabs and newlines.
 */
export function safeReturnTo(value: unknown): string | null {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048 || !value.startsWith('/') || hasControlCharacter(value)) return null;
  let url: URL;
  try {
    url = new URL(value, PROBE_ORIGIN);
  } catch {
    return null;
  }
  if (url.origin !== PROBE_ORIGIN) return null;
  const path = `${url.pathname}${url.search}${url.hash}`;
  // A path-absolute reference whose second character is `/` or `\` is network-path (RFC
  // 3986 §4.2; WHATWG treats `\` as `/`): another host.
  return path.startsWith('/') && path[1] !== '/' && path[1] !== '\\' ? path : null;
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
