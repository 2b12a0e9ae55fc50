import { describe, expect, it } from 'vitest';
import type { Stores } from '../../server/stores/types.js';
import type { ManualClock } from '../support/manual-clock.js';

const TTL = 10_000;

/** The audit export cursors' part of the store contract (runStoreContract calls it inside its own describe). */
export function describeExportCursors(fixture: () => { stores: Stores; clock: ManualClock }, restart: () => Promise<Stores>): void {
  describe('audit export cursors (one lease and cursor per sink)', () => {
    const claim = (stores: Stores, sink: string, holder: string) => stores.exportCursors.claim(sink, holder, fixture().clock.now(), fixture().clock.now() + TTL);

    it('one holder per sink: the commit is fenced by that sink’s lease, and a successor sees the cursor committed', async () => {
      const { stores, clock } = fixture();
      const cursors = stores.exportCursors;
      expect(await claim(stores, 'splunk', 'a')).toEqual({ cursor: null });
      expect(await claim(stores, 'splunk', 'b')).toBeNull();
      // Another sink's lease is its own: b may hold it while a holds splunk's.
      expect(await claim(stores, 'syslog', 'b')).toEqual({ cursor: null });
      expect(await cursors.commit('splunk', 'b', clock.now(), '9')).toBe(false);
      expect(await cursors.commit('splunk', 'a', clock.now(), '7')).toBe(true);
      expect(await cursors.cursor('splunk')).toBe('7');
      expect(await cursors.cursor('syslog')).toBeNull();
      // a's lease lapsed: b takes it over at a's cursor, and a can move it no more.
      clock.advance(TTL);
      expect(await claim(stores, 'splunk', 'b')).toEqual({ cursor: '7' });
      expect(await cursors.commit('splunk', 'a', clock.now(), '8')).toBe(false);
      expect(await cursors.cursor('splunk')).toBe('7');
      await cursors.release('splunk', 'b');
      expect(await claim(stores, 'splunk', 'a')).toEqual({ cursor: '7' });
    });

    it('a release by one who does not hold the lease leaves it held', async () => {
      const { stores } = fixture();
      await claim(stores, 'otlp', 'a');
      await stores.exportCursors.release('otlp', 'b');
      expect(await claim(stores, 'otlp', 'b')).toBeNull();
    });

    it('keeps each sink’s cursor across a restart', async () => {
      const { stores, clock } = fixture();
      await claim(stores, 'splunk', 'a');
      await stores.exportCursors.commit('splunk', 'a', clock.now(), '42');
      await claim(stores, 'file', 'a');
      await stores.exportCursors.commit('file', 'a', clock.now(), '41');
      const again = await restart();
      expect(await again.exportCursors.cursor('splunk')).toBe('42');
      clock.advance(TTL);
      expect(await again.exportCursors.claim('file', 'c', clock.now(), clock.now() + TTL)).toEqual({ cursor: '41' });
    });
  });
}
