import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { canonicalJson, memberWriter } from '../../server/audit/canonical-json.js';
import { InvalidInputError } from '../../server/errors.js';

/** A small deterministic generator (mulberry32), so a failure names a case that can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Text that sorts and escapes differently: ASCII, controls, quotes, astral pairs, BMP letters, the sort-order traps of RFC 8785's example. */
const PIECES = ['a', 'B', '_', ' ', '"', '\\', '\n', '\u0000', '\u001f', '\u007f', 'é', '€', '\u2028', '😀', '\ud83d\ude00', 'ö', '\u20ac', '\r', 'z', '1', '\ufb33', '\u00f6'];
const NUMBERS = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 123456789012345680000, 5e-324, 1.7976931348623157e308, -1.5, 333333333.3333333, 2 ** 53, 4.5, 0.000001];

function text(next: () => number): string {
  let s = '';
  const length = Math.floor(next() * 6);
  for (let i = 0; i < length; i++) s += PIECES[Math.floor(next() * PIECES.length)];
  return s;
}

function value(next: () => number, depth: number): unknown {
  const kind = Math.floor(next() * (depth > 4 ? 5 : 8));
  switch (kind) {
    case 0:
      return null;
    case 1:
      return next() < 0.5;
    case 2:
      return next() < 0.5 ? NUMBERS[Math.floor(next() * NUMBERS.length)] : (next() - 0.5) * 10 ** Math.floor(next() * 40 - 20);
    case 3:
    case 4:
      return text(next);
    case 5:
      return Array.from({ length: Math.floor(next() * 5) }, () => value(next, depth + 1));
    default: {
      const object: Record<string, unknown> = {};
      const members = Math.floor(next() * 6);
      for (let i = 0; i < members; i++) object[text(next)] = value(next, depth + 1);
      return object;
    }
  }
}

describe('canonicalJson (RFC 8785)', () => {
  it('writes exactly what the canonicalize package writes, for 5,000 generated JSON values', () => {
    const next = random(8785);
    for (let i = 0; i < 5_000; i++) {
      const v = value(next, 0);
      expect(canonicalJson(v), JSON.stringify(v)).toBe(canonicalize(v));
    }
  });

  it("sorts members by UTF-16 code units, as RFC 8785's own example does", () => {
    // RFC 8785 §3.2.3: the properties sorted by their UTF-16 code units.
    const example = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' };
    const order = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'] as const;
    expect(canonicalJson(example)).toBe(`{${order.map((key) => `${JSON.stringify(key)}:${JSON.stringify(example[key])}`).join(',')}}`);
  });

  it('leaves out members without a JSON form and writes such array items as null, as JSON.stringify does', () => {
    expect(canonicalJson({ b: undefined, a: 1, c: () => 1 })).toBe('{"a":1}');
    expect(canonicalJson([undefined, 1])).toBe('[null,1]');
  });

  it('refuses what RFC 8785 refuses: lone surrogates (in values and names), NaN and the infinities', () => {
    for (const bad of ['\ud800', { '\udc00': 1 }, [Number.NaN], { a: Number.POSITIVE_INFINITY }, -Infinity, { big: 1n }, [2n]]) {
      expect(() => canonicalJson(bad)).toThrow(InvalidInputError);
    }
    expect(() => canonicalJson(undefined)).toThrow(InvalidInputError);
  });
});

describe('memberWriter (an object of known members, written without sorting)', () => {
  const FIELDS = ['actor', 'data', 'outcome', 'prevHash', 'server', 'sessionId', 'time', 'tool', 'type'] as const;
  const write = memberWriter(FIELDS);

  it('writes what the canonicalize package writes of those members, for 2,000 generated objects with missing, undefined and extra members', () => {
    const next = random(2025);
    for (let i = 0; i < 2_000; i++) {
      const object: Record<string, unknown> = {};
      for (const field of FIELDS) {
        const roll = next();
        if (roll < 0.1) continue;
        object[field] = roll < 0.2 ? undefined : value(next, 1);
      }
      // Members it was not told of are not written (an event's id and hash are not hashed).
      const extra: Partial<Record<(typeof FIELDS)[number], unknown>> & Record<string, unknown> = { ...object, id: text(next), hash: text(next), [text(next)]: 1 };
      const named = Object.fromEntries(FIELDS.filter((f) => Object.hasOwn(object, f)).map((f) => [f, object[f]]));
      expect(write(extra), JSON.stringify(object)).toBe(canonicalize(named));
    }
  });

  it('refuses member names out of RFC 8785 order, and what canonicalJson refuses in values', () => {
    expect(() => memberWriter(['b', 'a'])).toThrow(/not in sorted order/);
    expect(() => memberWriter(['a', 'a'])).toThrow(/not in sorted order/);
    // UTF-16 code units, not code points: U+FB33 sorts after U+1F600's high surrogate.
    expect(() => memberWriter(['\ufb33', '😀'])).toThrow(/not in sorted order/);
    expect(() => write({ actor: '\ud800', data: {} } as never)).toThrow(InvalidInputError);
    expect(() => write({ actor: null, data: { n: Number.NaN } } as never)).toThrow(InvalidInputError);
  });
});
