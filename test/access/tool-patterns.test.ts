import { describe, expect, it } from 'vitest';
import { matchesTool, patternCovers } from '../../server/access/tool-patterns.js';

describe('tool name patterns', () => {
  it('match names exactly, with * for any run of characters', () => {
    expect(matchesTool('echo', 'echo')).toBe(true);
    expect(matchesTool('echo', 'Echo')).toBe(false);
    expect(matchesTool('echo', 'echo2')).toBe(false);
    expect(matchesTool('get-*', 'get-sum')).toBe(true);
    expect(matchesTool('*delete*', 'bulk_delete_all')).toBe(true);
    expect(matchesTool('*', '')).toBe(true);
    expect(matchesTool('a*b*c', 'axxbyyc')).toBe(true);
    expect(matchesTool('a*b*c', 'axxbyy')).toBe(false);
  });

  it('never match look-alike names (unicode, case)', () => {
    expect(matchesTool('echo', 'еcho')).toBe(false); // Cyrillic е
    expect(matchesTool('ECHO', 'echo')).toBe(false);
  });

  it('say a pattern covers another only when every name of the inner matches the outer', () => {
    expect(patternCovers('*', '*delete*')).toBe(true);
    expect(patternCovers('*delete*', 'bulk_delete')).toBe(true);
    expect(patternCovers('*delete*', '*')).toBe(false);
    expect(patternCovers('get-*', 'get-sum')).toBe(true);
    expect(patternCovers('get-*', 'get*')).toBe(false);
    expect(patternCovers('a*', '*a')).toBe(false);
    expect(patternCovers('*a*', '*a*')).toBe(true);
    expect(patternCovers('echo', 'echo')).toBe(true);
  });

  it('match exactly as a backtracking glob does, on thousands of random patterns and names (the linear matcher is exact)', () => {
    // Reference: the textbook regular expression for a `*`-only glob.
    const reference = (pattern: string, name: string) => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.-]/g, '\\$&')).join('.*')}$`).test(name);
    let seed = 42;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const word = (alphabet: string, max: number) => Array.from({ length: random(max + 1) }, () => alphabet[random(alphabet.length)]).join('');
    for (let i = 0; i < 5000; i++) {
      const pattern = word('ab*.', 8);
      const name = word('ab.', 10);
      expect(matchesTool(pattern, name), `${pattern} vs ${name}`).toBe(reference(pattern, name));
    }
  });
});
