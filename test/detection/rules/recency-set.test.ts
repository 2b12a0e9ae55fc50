import { describe, expect, it } from 'vitest';
import { forgetBefore, recencySet, recentKeys, touch } from '../../../server/detection/rules/recency-set.js';
import type { RecencySet } from '../../../server/detection/rules/recency-set.js';

/** Array indices, which objects list before their other keys (ECMAScript OrdinaryOwnPropertyKeys). */
const isIndex = (key: string) => String(Number(key) >>> 0) === key && Number(key) !== 2 ** 32 - 1;

/** The plain definition: the least recently used key goes first; equal times as an object lists them (indices in numeric order, then the others in order of last use). */
class Reference {
  private readonly uses = new Map<string, { at: number; seq: number }>();
  private seq = 0;

  touch(key: string, at: number, max: number): boolean {
    const known = this.uses.has(key);
    this.uses.set(key, { at, seq: this.seq++ });
    if (!known && this.uses.size > max) this.uses.delete(this.ordered()[0]![0]);
    return !known;
  }

  forgetBefore(since: number): void {
    for (const [key, use] of this.uses) if (use.at < since) this.uses.delete(key);
  }

  contents(): Record<string, number> {
    return Object.fromEntries(this.ordered().map(([key, use]) => [key, use.at]));
  }

  private ordered() {
    const rank = ([key, use]: [string, { seq: number }]) => (isIndex(key) ? Number(key) - 2 ** 32 : use.seq);
    return [...this.uses].sort((a, b) => a[1].at - b[1].at || rank(a) - rank(b));
  }
}

function sorted(set: RecencySet): Record<string, number> {
  return Object.fromEntries(Object.entries(set.last).sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0])));
}

/** Names a client or server may have: plain ones, integer-like ones (objects list those first) and Object.prototype's. */
const KEYS = [...Array.from({ length: 30 }, (_, i) => `k${i}`), '0', '7', '42', '4294967295', '__proto__', 'constructor', 'toString', 'hasOwnProperty'];

/** A seeded stream of uses: mostly in time order, some equal times, some a little late (another broker's events). */
function* uses(seed: number, count: number) {
  let state = seed;
  const next = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  let now = 1_000;
  for (let i = 0; i < count; i++) {
    const roll = next();
    now += roll < 0.3 ? 0 : Math.floor(next() * 50);
    yield { key: KEYS[Math.floor(next() * KEYS.length)]!, at: roll > 0.9 ? now - Math.floor(next() * 200) : now, forget: next() < 0.1 };
  }
}

describe('recency set', () => {
  it('forgets the least recently used key when full, and what a window no longer saw', () => {
    const set = recencySet();
    expect(touch(set, 'a', 1, 3)).toBe(true);
    expect(touch(set, 'b', 2, 3)).toBe(true);
    expect(touch(set, 'c', 3, 3)).toBe(true);
    expect(touch(set, 'a', 4, 3)).toBe(false);
    expect(touch(set, 'd', 5, 3)).toBe(true);
    expect(set).toEqual({ size: 3, last: { a: 4, c: 3, d: 5 } });
    forgetBefore(set, 4);
    expect(set).toEqual({ size: 2, last: { a: 4, d: 5 } });
    expect(touch(set, 'b', 6, 3)).toBe(true);
    expect(recentKeys(set, 2)).toEqual(['b', 'd']);
  });

  it('counts keys named like members of Object.prototype as any other, and keeps its bound with them', () => {
    const set = recencySet();
    for (const [i, key] of ['__proto__', 'constructor', 'toString'].entries()) expect(touch(set, key, i, 3)).toBe(true);
    expect(touch(set, '__proto__', 10, 3)).toBe(false);
    expect(touch(set, 'a', 11, 3)).toBe(true);
    expect(set.size).toBe(3);
    expect(Object.keys(set.last).sort()).toEqual(['__proto__', 'a', 'toString']);
    expect(Object.getPrototypeOf(set.last)).toBe(Object.prototype);
    for (let i = 0; i < 200; i++) touch(set, i % 2 === 0 ? '__proto__' : `n${i}`, 20 + i, 3);
    expect(Object.keys(set.last)).toHaveLength(3);
    expect(JSON.parse(JSON.stringify(set))).toEqual({ size: 3, last: set.last });
  });

  it('forgets as the plain definition does, with equal and late times, whether kept in memory or read back from JSON at every step', () => {
    for (const seed of [1, 7, 42, 1234]) {
      const reference = new Reference();
      let kept = recencySet();
      let stored = recencySet();
      for (const use of uses(seed, 3_000)) {
        const fresh = reference.touch(use.key, use.at, 12);
        expect(touch(kept, use.key, use.at, 12)).toBe(fresh);
        stored = JSON.parse(JSON.stringify(stored)) as RecencySet;
        expect(touch(stored, use.key, use.at, 12)).toBe(fresh);
        if (use.forget) {
          reference.forgetBefore(use.at - 100);
          forgetBefore(kept, use.at - 100);
          forgetBefore(stored, use.at - 100);
        }
        expect(sorted(kept)).toEqual(sorted({ size: 0, last: reference.contents() }));
        expect(sorted(stored)).toEqual(sorted(kept));
        expect(kept.size).toBe(Object.keys(kept.last).length);
      }
      kept = JSON.parse(JSON.stringify(kept)) as RecencySet;
      expect(kept.size).toBe(stored.size);
    }
  });
});
