import { describe, expect, it } from 'vitest';
import type { ScimGroupRecord, ScimUserRecord, Stores } from '../../server/stores/types.js';

export function scimUser(id: string, userName: string, overrides: Partial<ScimUserRecord> = {}): ScimUserRecord {
  return { id, idp: 'corp', userName, externalId: null, active: true, emails: [{ value: userName, type: 'work', primary: true }], displayName: null, groups: null, revokedBefore: 0, deletedAt: null, createdAt: 1, updatedAt: 1, ...overrides };
}

function scimGroup(id: string, displayName: string, members: string[] = []): ScimGroupRecord {
  return { id, idp: 'corp', displayName, externalId: null, members, createdAt: 1, updatedAt: 1 };
}

/** The SCIM store's part of the store contract (runStoreContract calls it inside its own describe). */
export function describeScimStore(stores: () => Stores, restart: () => Promise<Stores>): void {
  describe('SCIM users and groups', () => {
    it('finds a user by id and by userName whatever its case, and only within its IdP', async () => {
      const user = scimUser('u1', 'Alice@Example.com', { externalId: 'ext-1', groups: ['eng'] });
      expect(await stores().scim.users.put(user)).toBe(true);
      expect(await stores().scim.users.get('corp', 'u1')).toEqual(user);
      expect(await stores().scim.users.find('corp', ['nobody', 'alice@EXAMPLE.com'])).toEqual(user);
      expect(await stores().scim.users.get('other', 'u1')).toBeNull();
      expect(await stores().scim.users.find('other', ['alice@example.com'])).toBeNull();
    });

    it('refuses a second record with a name another holds, and moves the name of a renamed record', async () => {
      await stores().scim.users.put(scimUser('u1', 'alice'));
      expect(await stores().scim.users.put(scimUser('u2', 'ALICE'))).toBe(false);
      expect(await stores().scim.users.get('corp', 'u2')).toBeNull();
      expect(await stores().scim.users.put(scimUser('u1', 'alicia', { active: false }))).toBe(true);
      expect(await stores().scim.users.find('corp', ['alice'])).toBeNull();
      expect((await stores().scim.users.find('corp', ['alicia']))?.active).toBe(false);
      expect(await stores().scim.users.put(scimUser('u2', 'alice'))).toBe(true);
      // Another IdP may hold the same name.
      expect(await stores().scim.users.put(scimUser('u3', 'alice', { idp: 'other' }))).toBe(true);
    });

    it('writes a tombstone under the name a renamed record leaves, in the same step, and refuses one that would not take that name', async () => {
      const users = stores().scim.users;
      const tombstone = scimUser('t1', 'alice', { active: false, deletedAt: 5 });
      // A new record leaves no name; a record keeping its name (whatever its case) leaves none either.
      expect(await users.put(scimUser('u1', 'alice'), { tombstone })).toBe(false);
      expect(await users.get('corp', 'u1')).toBeNull();
      await users.put(scimUser('u1', 'alice'));
      expect(await users.put(scimUser('u1', 'ALICE'), { tombstone })).toBe(false);
      expect(await users.put(scimUser('u1', 'alicia'), { tombstone: scimUser('t1', 'someone-else') })).toBe(false);
      expect(await users.put(scimUser('u1', 'alicia'), { tombstone: { ...tombstone, idp: 'other' } })).toBe(false);
      expect(await users.find('corp', ['alice'])).toEqual(scimUser('u1', 'alice'));

      expect(await users.put(scimUser('u1', 'alicia'), { tombstone })).toBe(true);
      expect(await users.find('corp', ['alice'])).toEqual(tombstone);
      expect(await users.find('corp', ['alicia'])).toEqual(scimUser('u1', 'alicia'));
      // The tombstone holds the name like any record; deleting it frees the name.
      expect(await users.put(scimUser('u2', 'alice'))).toBe(false);
      expect(await users.put(scimUser('u1', 'bob'), { tombstone })).toBe(false);
      expect(await users.delete('corp', 't1')).toEqual(tombstone);
      expect(await users.put(scimUser('u2', 'alice'))).toBe(true);
    });

    it('displaces the record it names from the name it takes, in the same step, and no other', async () => {
      const users = stores().scim.users;
      await users.put(scimUser('t1', 'alice', { active: false, deletedAt: 5 }));
      await users.put(scimUser('u1', 'bob'));
      expect(await users.put(scimUser('u2', 'alice'), { displacing: 'u1' })).toBe(false);
      expect(await users.put(scimUser('u2', 'alice'), { displacing: 't1' })).toBe(true);
      expect(await users.get('corp', 't1')).toBeNull();
      expect(await users.find('corp', ['alice'])).toEqual(scimUser('u2', 'alice'));
      // A rename onto a displaced name, leaving a tombstone under the former one.
      const tombstone = scimUser('t2', 'bob', { active: false, deletedAt: 6 });
      expect(await users.put(scimUser('u1', 'alice'), { displacing: 'u2', tombstone })).toBe(true);
      expect(await users.get('corp', 'u2')).toBeNull();
      expect(await users.find('corp', ['alice'])).toEqual(scimUser('u1', 'alice'));
      expect(await users.find('corp', ['bob'])).toEqual(tombstone);
      expect((await users.list('corp')).map((u) => u.id).sort()).toEqual(['t2', 'u1']);
    });

    it('lists an IdP\'s records oldest first and deletes one with its name', async () => {
      await stores().scim.groups.put({ ...scimGroup('g2', 'ops'), createdAt: 2 });
      await stores().scim.groups.put(scimGroup('g1', 'eng', ['u1']));
      await stores().scim.groups.put({ ...scimGroup('g3', 'elsewhere'), idp: 'other' });
      expect((await stores().scim.groups.list('corp')).map((g) => g.id)).toEqual(['g1', 'g2']);
      expect(await stores().scim.groups.delete('corp', 'g1')).toEqual(scimGroup('g1', 'eng', ['u1']));
      expect(await stores().scim.groups.delete('corp', 'g1')).toBeNull();
      expect(await stores().scim.groups.find('corp', ['eng'])).toBeNull();
      expect(await stores().scim.groups.put(scimGroup('g4', 'eng'))).toBe(true);
    });

    it('of two creates racing on one name, makes one record', async () => {
      const results = await Promise.all(['r1', 'r2', 'r3'].map((id) => stores().scim.users.put(scimUser(id, 'race'))));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await stores().scim.users.list('corp')).toHaveLength(1);
    });

    it('remembers who signed in under a name, per IdP, once each', async () => {
      await stores().scim.sighted('corp', ['alice', 'Alice@Example.com'], 'corp:alice');
      await stores().scim.sighted('corp', ['alice@example.com'], 'corp:alice');
      await stores().scim.sighted('corp', ['alice@example.com'], 'corp:Alice');
      expect((await stores().scim.sightings('corp', 'ALICE@example.com')).sort()).toEqual(['corp:Alice', 'corp:alice']);
      expect(await stores().scim.sightings('other', 'alice')).toEqual([]);
    });

    it('keeps users, groups and sightings across a restart', async () => {
      await stores().scim.users.put(scimUser('u1', 'alice'));
      await stores().scim.groups.put(scimGroup('g1', 'eng', ['u1']));
      await stores().scim.sighted('corp', ['alice'], 'corp:alice');
      const again = await restart();
      expect(await again.scim.users.find('corp', ['alice'])).toEqual(scimUser('u1', 'alice'));
      expect(await again.scim.groups.get('corp', 'g1')).toEqual(scimGroup('g1', 'eng', ['u1']));
      expect(await again.scim.sightings('corp', 'alice')).toEqual(['corp:alice']);
    });
  });
}
