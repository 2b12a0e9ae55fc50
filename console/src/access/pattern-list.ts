/** "read_*, write_file" (as typed into a patterns field) → ["read_*", "write_file"]. */
export function parsePatterns(text: string): string[] {
  return text
    .split(/[,\s]+/)
    .map((p) => p.trim())
    .filter(Boolean);
}

/** Patterns as a reader sees them: "every tool" for `*`, "none" for an empty list. */
export function describePatterns(patterns: readonly string[], none = 'none'): string {
  if (patterns.length === 0) return none;
  return patterns.join(', ');
}
