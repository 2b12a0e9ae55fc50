import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import type { ScimUserRecord, Stores } from '../../server/stores/types.js';
import { startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { describeWithRedis, redisStoresForTest, sharedRedisUrl, uniquePrefix } from '../support/redis.js';
import { oktaUser, PATCH_OP, scim, SCIM_TOKEN } from '../support/scim-client.js';
import { postGraphQL } from '../support/test-server.js';
import { signIn } from '../support/test-idp.js';

/**
 * SCIM names are matched as Portcullis matches email addresses (server/identity/email-key.ts):
 * ASCII letters in any case, nothing else folded. `toLowerCase` maps U+212A KELVIN SIGN to
 * `k`, so `\u212Aate@example.com` would otherwise be Kate: her SCIM groups, her deprovisioning.
 */

const KATE = 'kate@example.com';
const KELVIN_KATE = '\u212Aate@example.com';
const roles = [
  { name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: ['echo'], maxDurationSeconds: 3600, autoApprove: true }] },
  { name: 'admin', members: { groups: ['admins'] }, request: [{ server: 'everything', tools: ['echo', 'get-sum'], maxDurationSeconds: 3600, autoApprove: true }] },
];

interface Me {
  email: string;
  groups: string[];
  roles: string[];
}

async function me(fx: BrokerFixture, cookie: string): Promise<Me | string | undefined> {
  const { body } = await postGraphQL(fx.server.url, { query: '{ me { email groups roles } }' }, { cookie });
  const code = body.errors?.[0]?.extensions?.code;
  return (body.data as { me: Me } | null | undefined)?.me ?? (typeof code === 'string' ? code : undefined);
}

const backends: [string, (name: string, suite: () => void) => void, () => Promise<Stores | undefined>][] = [
  ['embedded store', describe, async () => undefined],
  ['Redis store', describeWithRedis, () => redisStoresForTest({ clock: systemClock })],
];

for (const [backend, describeOn, stores] of backends) {
  describeOn(`SCIM names fold ASCII letters only (${backend})`, () => {
    const fixtures: BrokerFixture[] = [];
    afterEach(async () => {
      await Promise.all(fixtures.splice(0).map((f) => f.close()));
    });

    it('a KELVIN SIGN look-alike of a SCIM user is not that user: it keeps its assertion groups and outlives her deactivation, while she gets her SCIM groups', async () => {
      const fx = await startBroker({ overrides: { roles }, scimToken: SCIM_TOKEN, stores: await stores() });
      fixtures.push(fx);
      const kate = await scim(fx.server.url, 'POST', '/Users', { body: oktaUser(KATE) });
      expect(kate.status).toBe(201);
      const group = await scim(fx.server.url, 'POST', '/Groups', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'admins', members: [{ value: kate.body.id }] } });
      expect(group.status).toBe(201);

      const lookAlike = await fx.signInAs(KELVIN_KATE, ['engineering']);
      expect(await me(fx, lookAlike.cookie)).toEqual({ email: KELVIN_KATE, groups: ['engineering'], roles: ['engineer'] });
      const kateCookie = await signIn(fx.server.url, fx.idp, { nameId: KATE, attributes: { email: KATE, groups: ['engineering'] } });
      expect(await me(fx, kateCookie)).toEqual({ email: KATE, groups: ['admins'], roles: ['admin'] });
      expect((await scim(fx.server.url, 'GET', `/Users?filter=${encodeURIComponent(`userName eq "${KELVIN_KATE}"`)}`)).body.totalResults).toBe(0);

      const grant = await lookAlike.grant(['echo']);
      const deactivate = await scim(fx.server.url, 'PATCH', `/Users/${String(kate.body.id)}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] } });
      expect(deactivate.status).toBe(200);
      expect(await me(fx, kateCookie)).toBe('UNAUTHENTICATED');
      expect(await me(fx, lookAlike.cookie)).toEqual({ email: KELVIN_KATE, groups: ['engineering'], roles: ['engineer'] });
      expect((await fx.server.stores.access.getGrant(grant))?.revokedAt).toBeNull();
      await expect(signIn(fx.server.url, fx.idp, { nameId: KELVIN_KATE, attributes: { email: KELVIN_KATE, groups: ['engineering'] } })).resolves.toBeTruthy();
    });
  });
}

function scimUser(id: string, userName: string): ScimUserRecord {
  return { id, idp: 'corp', userName, externalId: null, active: false, emails: [], displayName: null, groups: null, revokedBefore: 5, deletedAt: null, createdAt: 1, updatedAt: 1 };
}

describeWithRedis('SCIM names indexed by toLowerCase before (Redis store)', () => {
  it('still finds a record under its former index entry, but only for a name that folds as its own does', async () => {
    const prefix = uniquePrefix();
    const stores = await redisStoresForTest({ prefix, clock: systemClock });
    const admin = new Redis(sharedRedisUrl);
    try {
      // As the store wrote them: the index keyed, and the name stored beside the record, by toLowerCase.
      const legacy = [scimUser('u1', KELVIN_KATE), scimUser('u2', 'Émile@example.com')];
      for (const user of legacy) {
        const name = user.userName.toLowerCase();
        await admin.hset(`${prefix}{scim:corp}:users`, user.id, JSON.stringify({ n: name, r: user }));
        await admin.hset(`${prefix}{scim:corp}:users-names`, name, user.id);
      }
      expect(await stores.scim.users.find('corp', [KELVIN_KATE])).toEqual(legacy[0]);
      expect(await stores.scim.users.find('corp', [KATE])).toBeNull();
      expect(await stores.scim.users.find('corp', [KATE, 'ÉMILE@EXAMPLE.COM'])).toEqual(legacy[1]);
      expect(await stores.scim.users.find('corp', ['émile@example.com'])).toBeNull();
      // A write re-indexes the record under its name as now folded.
      await stores.scim.users.put({ ...legacy[1]!, updatedAt: 2 });
      expect(await admin.hgetall(`${prefix}{scim:corp}:users-names`)).toEqual({ 'kate@example.com': 'u1', 'Émile@example.com': 'u2' });
    } finally {
      admin.disconnect();
      await stores.close();
    }
  });
});
