import { describe, expect, it } from 'vitest';
import type { Stores, UserIdentity } from '../../server/stores/types.js';

/** Every backend under contract is built with this capacity of directory entries. */
export const CONTRACT_USER_DIRECTORY_CAPACITY = 3;

const person = (name: string, groups: string[], idp = 'corp', email = `${name}@example.com`): UserIdentity => ({ id: `${idp}:${name}`, idp, nameId: name, email, displayName: null, groups });

/** The user directory's part of the store contract (runStoreContract calls it inside its own describe). */
export function describeUserDirectory(stores: () => Stores, restart: () => Promise<Stores>): void {
  describe('user directory (users seen signing in)', () => {
    it('finds a user by email whatever its case, one entry per user id across IdPs, most recently seen first', async () => {
      const corp = person('alice', ['sre']);
      const partner = person('alice', [], 'partner');
      await stores().directory.seen(corp, 1_000);
      await stores().directory.seen(partner, 2_000);
      expect(await stores().directory.byEmail('ALICE@Example.com')).toEqual([
        { user: partner, lastSeenAt: 2_000 },
        { user: corp, lastSeenAt: 1_000 },
      ]);
      expect(await stores().directory.byEmail('nobody@example.com')).toEqual([]);
    });

    it('finds the users holding any of some groups, up to a limit', async () => {
      await stores().directory.seen(person('alice', ['sre', 'engineering']), 1_000);
      await stores().directory.seen(person('bob', ['security']), 2_000);
      await stores().directory.seen(person('carol', ['engineering']), 3_000);
      const ids = async (groups: string[], limit = 10) => (await stores().directory.inGroups(groups, limit)).map((e) => e.user.id);
      expect(await ids(['sre', 'security'])).toEqual(['corp:bob', 'corp:alice']);
      expect(await ids(['engineering'], 1)).toEqual(['corp:carol']);
      expect(await ids(['nobody'])).toEqual([]);
      expect(await ids([])).toEqual([]);
    });

    it('keeps what the latest sign-in said: a changed email or a group left no longer matches', async () => {
      await stores().directory.seen(person('alice', ['sre']), 1_000);
      const moved = person('alice', ['engineering'], 'corp', 'alice.smith@example.com');
      await stores().directory.seen(moved, 2_000);
      expect(await stores().directory.byEmail('alice@example.com')).toEqual([]);
      expect(await stores().directory.inGroups(['sre'], 10)).toEqual([]);
      expect(await stores().directory.byEmail('alice.smith@example.com')).toEqual([{ user: moved, lastSeenAt: 2_000 }]);
      expect(await stores().directory.inGroups(['engineering'], 10)).toEqual([{ user: moved, lastSeenAt: 2_000 }]);
    });

    it('past its capacity drops the least recently seen, never failing a sign-in', async () => {
      for (let i = 0; i < CONTRACT_USER_DIRECTORY_CAPACITY; i++) await stores().directory.seen(person(`u${i}`, ['g']), 1_000 + i);
      // u0 signs in again: u1 becomes the least recently seen.
      await stores().directory.seen(person('u0', ['g']), 5_000);
      await stores().directory.seen(person('newcomer', ['g']), 6_000);
      expect((await stores().directory.inGroups(['g'], 10)).map((e) => e.user.id)).toEqual(['corp:newcomer', 'corp:u0', 'corp:u2']);
      expect(await stores().directory.byEmail('u1@example.com')).toEqual([]);
    });

    it('is still there after a restart', async () => {
      const alice = person('alice', ['sre']);
      await stores().directory.seen(alice, 1_000);
      const again = await restart();
      expect(await again.directory.byEmail('alice@example.com')).toEqual([{ user: alice, lastSeenAt: 1_000 }]);
      expect(await again.directory.inGroups(['sre'], 10)).toEqual([{ user: alice, lastSeenAt: 1_000 }]);
    });
  });
}
