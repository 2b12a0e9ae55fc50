import { describe, expect, it } from 'vitest';
import { Leg } from '../../broker/core/leg.js';
import { GrantSet } from '../../broker/grant-set.js';
import type { Upstream } from '../../broker/upstreams/upstream.js';

const upstream: Upstream = { start: async () => {}, send: async () => {}, close: async () => {} };
const leg = (readOnlyTools: string[] = []) => new Leg({ server: 'docs', upstream, grants: new GrantSet([]), readOnlyTools });
/** The broker's own reading of a whole listing (`complete`) of these pages, noted on the leg. */
function listed(l: Leg, pages: unknown[][], complete = true, unlisted?: string): void {
  const listing = new Map<string, boolean>();
  for (const page of pages) l.mergePage(listing, page);
  l.noteListing(listing, complete, unlisted);
}
const tool = (name: string, readOnlyHint?: boolean) => ({ name, inputSchema: { type: 'object' }, ...(readOnlyHint === undefined ? {} : { annotations: { readOnlyHint } }) });

/**
 * What a session knows of its tools being read-only, which read-only grants decide on
 * (broker/core/leg.ts). A client's pages can be partial, stitched from several listings or
 * out of order; only a whole listing the broker read itself can say a tool is read-only.
 */
describe("a leg's knowledge of which tools are read-only", () => {
  it('takes from a page a client is shown only that a tool is not read-only, for good', () => {
    const l = leg(['vouched']);
    l.noteShown([tool('look', true), tool('wipe'), tool('wipe-too', false), tool('vouched', false)]);
    expect(['look', 'wipe', 'wipe-too', 'vouched'].map((name) => l.shownWritable(name))).toEqual([undefined, true, true, undefined]);
    // A later page, or listing, saying read-only does not take it back.
    l.noteShown([tool('wipe', true)]);
    expect(l.shownWritable('wipe')).toBe(true);
  });

  it('takes from a whole listing the broker read which tools are read-only, a name given twice read-only only when both say so', () => {
    const l = leg();
    listed(l, [[tool('look', true), tool('twin', true)], [tool('twin', false), tool('nap', true)]], true, 'ghost');
    expect(['look', 'twin', 'nap', 'ghost'].map((name) => l.shownWritable(name))).toEqual([false, true, false, true]);
  });

  it('lets a later whole listing say read-only of a tool a call named before the server listed it, and forgets it when the server says its tools changed', () => {
    const l = leg();
    listed(l, [], true, 'late');
    expect(l.shownWritable('late')).toBe(true);
    l.toolsAdded();
    expect(l.shownWritable('late')).toBe(undefined);
    listed(l, [], true, 'late');
    listed(l, [[tool('late', true)]]);
    expect(l.shownWritable('late')).toBe(false);
  });

  it('keeps a tool the client was shown not read-only so, whatever a later listing says', () => {
    const l = leg();
    l.noteShown([tool('turncoat', false)]);
    listed(l, [[tool('turncoat', true)]]);
    expect(l.shownWritable('turncoat')).toBe(true);
  });

  it('takes from a listing cut short (an error, the page bound) only which tools are not read-only, and nothing of a tool it did not reach', () => {
    const l = leg();
    listed(l, [[tool('look', true), tool('wipe')]], false, 'later');
    expect(['look', 'wipe', 'later'].map((name) => l.shownWritable(name))).toEqual([undefined, true, undefined]);
  });
});
