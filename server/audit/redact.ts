/** Keys whose values are credentials wherever they appear (case-insensitive, any depth). */
const SECRET_KEY = /pass(word|phrase)?|secret|token|api[-_]?key|authorization|cookie|credential|private[-_]?key|session[-_]?id|signature/i;
const REDACTED = '[REDACTED]';
const MAX_DEPTH = 8;

/**
 * A copy of `value` with the values of secret-looking keys replaced, for audit data built
 * from what callers send (MCP request params). Deeper than MAX_DEPTH is summarised.
 */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (Array.isArray(value)) return depth >= MAX_DEPTH ? '[…]' : value.map((item) => redactSecrets(item, depth + 1));
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[…]';
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, SECRET_KEY.test(key) ? REDACTED : redactSecrets(v, depth + 1)]));
}
