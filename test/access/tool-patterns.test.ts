import { describe, expect, it } from 'vitest';
import { matchesTool, patternCovers, patternsOverlap } from '../../server/access/tool-patterns.js';

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

  it('say two patterns overlap exactly when some name matches both (against every name up to the length that could witness it)', () => {
    expect(patternsOverlap('*', 'drop_*')).toBe(true);
    expect(patternsOverlap('read_*', 'drop_*')).toBe(false);
    expect(patternsOverlap('a*', '*b')).toBe(true);
    expect(patternsOverlap('echo', 'echo')).toBe(true);
    expect(patternsOverlap('echo', 'ech')).toBe(false);
    let seed = 7;
    const random = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    const word = (alphabet: string, max: number) => Array.from({ length: random(max + 1) }, () => alphabet[random(alphabet.length)]).join('');
    // A shared name, if any, needs no more characters than the two patterns' literals together.
    const all = [''];
    for (let i = 0; all[i]!.length < 10; i++) all.push(`${all[i]!}a`, `${all[i]!}b`);
    for (let i = 0; i < 400; i++) {
      const a = word('ab*', 5);
      const b = word('ab*', 5);
      const witness = all.some((name) => name.length <= a.replaceAll('*', '').length + b.replaceAll('*', '').length && matchesTool(a, name) && matchesTool(b, name));
      expect(patternsOverlap(a, b), `${a} vs ${b}`).toBe(witness);
    }
  });
});
