import { describe, expect, it } from 'vitest';
import { durationChoices } from '../../console/src/access/durations';
import { mergeLive, newestFirst, prependEvents } from '../../console/src/live/live-lists';

interface Item {
  id: string;
  status: 'PENDING' | 'APPROVED';
  createdAt: string;
}

const pending = (item: Item) => item.status === 'PENDING';
const options = { belongs: pending, compare: newestFirst('createdAt'), stage: (i: Item) => (i.status === 'PENDING' ? 0 : 1) };

describe('lists kept current by a subscription', () => {
  it('adds a new item that belongs, newest first, and removes one that no longer does', () => {
    const base: Item[] = [
      { id: 'a', status: 'PENDING', createdAt: '2026-01-01T10:00:00Z' },
      { id: 'b', status: 'PENDING', createdAt: '2026-01-01T11:00:00Z' },
    ];
    const updates: Item[] = [
      { id: 'c', status: 'PENDING', createdAt: '2026-01-01T12:00:00Z' },
      { id: 'a', status: 'APPROVED', createdAt: '2026-01-01T10:00:00Z' },
    ];
    const merged = mergeLive(base, updates, options);
    expect(merged.map((i) => i.id)).toEqual(['c', 'b']);
  });

  it('never lets an earlier state undo a later one, whichever arrived last', () => {
    const refetched: Item[] = [{ id: 'a', status: 'APPROVED', createdAt: '2026-01-01T10:00:00Z' }];
    const stale: Item[] = [{ id: 'a', status: 'PENDING', createdAt: '2026-01-01T10:00:00Z' }];
    expect(mergeLive(refetched, stale, options)).toEqual([]);
  });
});

describe('the audit live tail', () => {
  it('puts arriving events on top, newest first, once each, within the limit', () => {
    const shown = [{ id: '3' }, { id: '2' }, { id: '1' }];
    expect(prependEvents(shown, [{ id: '3' }, { id: '4' }, { id: '5' }, { id: '4' }], 4)).toEqual([{ id: '5' }, { id: '4' }, { id: '3' }, { id: '2' }]);
  });
});

describe('durations offered', () => {
  it('offers the presets up to the longest allowed, and that longest itself', () => {
    expect(durationChoices(5400)).toEqual([900, 1800, 3600, 5400]);
    expect(durationChoices(3600)).toEqual([900, 1800, 3600]);
    expect(durationChoices(600)).toEqual([600]);
  });
});
