import { describe, expect, it } from 'vitest';
import { DIRECTORY_ENTRY_MAX_AGE_MS } from '../../server/stores/directory-entries.js';
import type { Stores, UserIdentity } from '../../server/stores/types.js';
import type { ManualClock } from '../support/manual-clock.js';

/** Every backend under contract is built with this capacity of directory entries. */
export const CONTRACT_USER_DIRECTORY_CAPACITY = 3;

const person = (name: string, groups: string[], idp = 'corp', email = `${name}@example.com`): UserIdentity => ({ id: `${idp}:${name}`, idp, nameId: name, email, displayName: null, groups });

/** The user directory's part of the store contract (runStoreContract calls it inside its own describe). */
export function describeUserDirectory(stores: () => Stores, clock: () => ManualClock, restart: () => Promise<Stores>): void {
  describe('user directory (users seen signing in)', () => {
    /** A sign-in moment `ms` after the test's start (the clock stands still unless advanced). */
    const at = (ms: number) => clock().now() - 10_000 + ms;

    it('finds a user by email whatever its case, one entry per user id across IdPs, most recently seen first', async () => {
      const corp = person('alice', ['sre']);
      const partner = person('alice', [], 'partner');
      await stores().directory.seen(corp, at(1_000));
      await stores().directory.seen(partner, at(2_000));
      expect(await stores().directory.byEmail('ALICE@Example.com')).toEqual([
        { user: partner, lastSeenAt: at(2_000) },
        { user: corp, lastSeenAt: at(1_000) },
      ]);
      expect(await stores().directory.byEmail('nobody@example.com')).toEqual([]);
    });

    it('folds ASCII case only: an address with the Kelvin sign (U+212A) is not the plain one, either way', async () => {
      const kelvin = person('kelvin', ['sre'], 'corp', '\u212Aate@example.com');
      await stores().directory.seen(kelvin, at(1_000));
      expect(await stores().directory.byEmail('kate@example.com')).toEqual([]);
      expect(await stores().directory.byEmail('KATE@example.com')).toEqual([]);
      const kate = person('kate', ['sre']);
      await stores().directory.seen(kate, at(2_000));
      expect(await stores().directory.byEmail('Kate@example.com')).toEqual([{ user: kate, lastSeenAt: at(2_000) }]);
      expect(await stores().directory.byEmail('\u212Aate@example.com')).toEqual([{ user: kelvin, lastSeenAt: at(1_000) }]);
    });

    it('finds the users holding any of some groups, up to a limit', async () => {
      await stores().directory.seen(person('alice', ['sre', 'engineering']), at(1_000));
      await stores().directory.seen(person('bob', ['security']), at(2_000));
      await stores().directory.seen(person('carol', ['engineering']), at(3_000));
      const ids = async (groups: string[], limit = 10) => (await stores().directory.inGroups(groups, limit)).map((e) => e.user.id);
      expect(await ids(['sre', 'security'])).toEqual(['corp:bob', 'corp:alice']);
      expect(await ids(['engineering'], 1)).toEqual(['corp:carol']);
      expect(await ids(['nobody'])).toEqual([]);
      expect(await ids([])).toEqual([]);
    });

    it('keeps what the latest sign-in said: a changed email or a group left no longer matches', async () => {
      await stores().directory.seen(person('alice', ['sre']), at(1_000));
      const moved = person('alice', ['engineering'], 'corp', 'alice.smith@example.com');
      await stores().directory.seen(moved, at(2_000));
      expect(await stores().directory.byEmail('alice@example.com')).toEqual([]);
      expect(await stores().directory.inGroups(['sre'], 10)).toEqual([]);
      expect(await stores().directory.byEmail('alice.smith@example.com')).toEqual([{ user: moved, lastSeenAt: at(2_000) }]);
      expect(await stores().directory.inGroups(['engineering'], 10)).toEqual([{ user: moved, lastSeenAt: at(2_000) }]);
    });

    it('forgets a user whose last sign-in is older than the maximum age, by email and by group', async () => {
      await stores().directory.seen(person('alice', ['sre']), at(1_000));
      clock().advance(DIRECTORY_ENTRY_MAX_AGE_MS - 20_000);
      await stores().directory.seen(person('bob', ['sre']), clock().now());
      expect((await stores().directory.inGroups(['sre'], 10)).map((e) => e.user.id)).toEqual(['corp:bob', 'corp:alice']);
      clock().advance(20_000);
      expect(await stores().directory.byEmail('alice@example.com')).toEqual([]);
      expect((await stores().directory.inGroups(['sre'], 10)).map((e) => e.user.id)).toEqual(['corp:bob']);
      // A later sign-in (which also sweeps expired entries on Redis) does not bring it back.
      await stores().directory.seen(person('carol', ['sre']), clock().now());
      expect((await stores().directory.inGroups(['sre'], 10)).map((e) => e.user.id)).toEqual(['corp:carol', 'corp:bob']);
    });

    it('past its capacity drops the least recently seen, never failing a sign-in', async () => {
      for (let i = 0; i < CONTRACT_USER_DIRECTORY_CAPACITY; i++) await stores().directory.seen(person(`u${i}`, ['g']), at(1_000 + i));
      // u0 signs in again: u1 becomes the least recently seen.
      await stores().directory.seen(person('u0', ['g']), at(5_000));
      await stores().directory.seen(person('newcomer', ['g']), at(6_000));
      expect((await stores().directory.inGroups(['g'], 10)).map((e) => e.user.id)).toEqual(['corp:newcomer', 'corp:u0', 'corp:u2']);
      expect(await stores().directory.byEmail('u1@example.com')).toEqual([]);
    });

    it('is still there after a restart', async () => {
      const alice = person('alice', ['sre']);
      await stores().directory.seen(alice, at(1_000));
      const again = await restart();
      expect(await again.directory.byEmail('alice@example.com')).toEqual([{ user: alice, lastSeenAt: at(1_000) }]);
      expect(await again.directory.inGroups(['sre'], 10)).toEqual([{ user: alice, lastSeenAt: at(1_000) }]);
    });
  });
}
