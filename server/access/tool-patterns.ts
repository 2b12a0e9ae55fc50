/**
 * Tool name patterns: MCP tool names with `*` matching any run of characters. Names are
 * compared exactly (case and code points): a tool is allowed only by a pattern that
 * spells it, never by a look-alike.
 */

/** Does `pattern` match the tool name `tool`? */
export function matchesTool(pattern: string, tool: string): boolean {
  return globMatch(pattern, tool, false);
}

/**
 * Does `outer` match every name `inner` matches? Sound for `*`-only globs: a `*` in
 * `inner` can only be absorbed by a `*` in `outer`, so a `true` here is never wrong (it
 * may say `false` for a few exotic inclusions, which only refuses a request).
 */
export function patternCovers(outer: string, inner: string): boolean {
  return globMatch(outer, inner, true);
}

function globMatch(pattern: string, text: string, textStarsAreWild: boolean): boolean {
  // Classic two-pointer wildcard match with backtracking to the last `*`: O(n·m) worst case.
  let p = 0;
  let t = 0;
  let star = -1;
  let mark = 0;
  while (t < text.length) {
    const pc = pattern[p];
    const tc = text[t];
    if (pc === '*') {
      star = p++;
      mark = t;
    } else if (pc !== undefined && pc === tc && !(textStarsAreWild && tc === '*')) {
      p++;
      t++;
    } else if (star >= 0) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}
