/**
 * Tool name patterns: MCP tool names with `*` matching any run of characters. Names are
 * compared exactly (case and code points): a tool is allowed only by a pattern that
 * spells it, never by a look-alike.
 */

/**
 * MCP's tool-name rule (2025-11-25 spec, tools: 1 to 128 of A-Z a-z 0-9 _ - .). A name
 * outside it can never be granted, and is refused before any pattern sees it.
 */
const TOOL_NAME = /^[A-Za-z0-9_.-]{1,128}$/;

export function isToolName(name: string): boolean {
  return TOOL_NAME.test(name);
}

/**
 * A tool name pattern compiled once into a matcher that is linear in the name: the first
 * and last pieces between stars must be its prefix and suffix, and each inner piece is
 * taken at its leftmost place after the previous one (greedy is exact for `*`-only
 * globs), so a long name against many stars cannot make the matcher backtrack.
 */
export function compileToolPattern(pattern: string): (tool: string) => boolean {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return (tool) => tool === pattern;
  const first = pieces[0]!;
  const last = pieces.at(-1)!;
  const inner = pieces.slice(1, -1).filter((piece) => piece !== '');
  return (tool) => {
    if (tool.length < first.length + last.length || !tool.startsWith(first) || !tool.endsWith(last)) return false;
    const end = tool.length - last.length;
    let at = first.length;
    for (const piece of inner) {
      const found = tool.indexOf(piece, at);
      if (found < 0 || found + piece.length > end) return false;
      at = found + piece.length;
    }
    return true;
  };
}

/** Does `pattern` match the tool name `tool`? (One-off; the relay compiles its grants' patterns once.) */
export function matchesTool(pattern: string, tool: string): boolean {
  return compileToolPattern(pattern)(tool);
}

/**
 * Does `outer` match every name `inner` matches? Sound for `*`-only globs: a `*` in
 * `inner` can only be absorbed by a `*` in `outer`, so a `true` here is never wrong (it
 * may say `false` for a few exotic inclusions, which only refuses a request).
 */
export function patternCovers(outer: string, inner: string): boolean {
  // Two-pointer wildcard match with backtracking to the last `*`: O(n·m), for patterns
  // only (config and requests, both at most 128 characters), never a client's tool name.
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < inner.length) {
    const pc = outer[p];
    const tc = inner[t];
    if (pc === '*') {
      star = p++;
      mark = t;
    } else if (pc !== undefined && pc === tc && tc !== '*') {
      p++;
      t++;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (outer[p] === '*') p++;
  return p === outer.length;
}

/**
 * Is there a name both patterns match? Exact for `*`-only globs: walking both at once, a
 * `*` may match nothing (step past it) or take the other's next character or `*`; two
 * literals must be the same character. Memoised over the pairs of positions, O(n·m).
 */
export function patternsOverlap(a: string, b: string): boolean {
  const seen = new Set<number>();
  const from = (i: number, j: number): boolean => {
    if (i === a.length && j === b.length) return true;
    const key = i * (b.length + 1) + j;
    if (seen.has(key)) return false;
    seen.add(key);
    if (a[i] === '*') return from(i + 1, j) || (j < b.length && from(i, j + 1));
    if (b[j] === '*') return from(i, j + 1) || (i < a.length && from(i + 1, j));
    return i < a.length && j < b.length && a[i] === b[j] && from(i + 1, j + 1);
  };
  return from(0, 0);
}
