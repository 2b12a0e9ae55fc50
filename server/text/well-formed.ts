/**
 * Well-formed Unicode text (no lone UTF-16 surrogates). JSON lets a string carry a lone
 * surrogate (`"\ud800"`), but I-JSON (RFC 7493 §2.1), and so the RFC 8785 canonical JSON
 * the audit chain's hashes rest on, does not. Portcullis refuses ill-formed text at its
 * edges (MCP frames, GraphQL inputs) and the audit log refuses an event carrying it, so
 * one caller's bad text can never fail another caller's event in the same batch.
 */

/** Where the first ill-formed string or key in `value` is (`params.arguments.q`, `[2]`), or null. */
export function illFormedTextAt(value: unknown): string | null {
  // Iterative: a 1 MiB frame can nest far deeper than the call stack.
  const pending: [unknown, string][] = [[value, '']];
  while (pending.length > 0) {
    const [item, path] = pending.pop()!;
    if (typeof item === 'string') {
      if (!item.isWellFormed()) return path || '(value)';
    } else if (Array.isArray(item)) {
      for (let i = item.length - 1; i >= 0; i--) pending.push([item[i], `${path}[${i}]`]);
    } else if (item !== null && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        const at = path ? `${path}.${key.toWellFormed()}` : key.toWellFormed();
        if (!key.isWellFormed()) return at;
        pending.push([child, at]);
      }
    }
  }
  return null;
}

/** Deeper than this, a refused value is recorded as a marker (the audit log keeps 8 levels anyway). */
const MAX_DEPTH = 16;

/**
 * A copy with every lone surrogate replaced by U+FFFD: how a refusal records what it
 * refused (its audit event says `illFormedText: true`; the text itself was never acted on).
 */
export function toWellFormedDeep(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return value.toWellFormed();
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[…]';
  if (Array.isArray(value)) return value.map((item) => toWellFormedDeep(item, depth + 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key.toWellFormed(), toWellFormedDeep(item, depth + 1)]));
}
