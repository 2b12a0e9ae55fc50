import { afterEach, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import { StoreUnavailableError } from '../../server/errors.js';
import type { AccessStore, Stores } from '../../server/stores/types.js';
import { startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';
import { GROUP_ROLES, oktaUser, PATCH_OP, scim, SCIM_TOKEN } from '../support/scim-client.js';

/**
 * A group change is written, then its effects fail (the store answers no grant listing):
 * the IdP is answered 503 and retries. The retry finds the change already made, and must
 * still revoke the grants whose basis it removed, as a retried deactivation still deprovisions.
 */

const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const roles = GROUP_ROLES;

/**
 * Redis stores whose next grant listing, once armed, fails as an unreachable Redis makes it
 * fail. Pausing Redis itself cannot land there: the SCIM lock lives in the same store, so
 * the request would fail before its write.
 */
async function storesFailingOneGrantListing(): Promise<{ stores: Stores; arm: () => void }> {
  const stores = await redisStoresForTest({ clock: systemClock });
  let armed = false;
  const access = new Proxy(stores.access, {
    get(target, key) {
      const value: unknown = Reflect.get(target, key, target);
      if (key === 'activeGrants' && armed) {
        armed = false;
        return () => Promise.reject(new StoreUnavailableError('grant list', new Error('connection lost')));
      }
      return typeof value === 'function' ? value.bind(target) : value;
    },
  }) as AccessStore;
  return { stores: { ...stores, access }, arm: () => (armed = true) };
}

describeWithRedis('a retried group change re-judges the grants its failed first attempt left', () => {
  const fixtures: BrokerFixture[] = [];
  afterEach(async () => {
    await Promise.all(fixtures.splice(0).map((f) => f.close()));
  });

  /** Alice in engineering and readers over SCIM, with a grant only engineering founds and one readers founds too. */
  async function aliceWithGrants() {
    const { stores, arm } = await storesFailingOneGrantListing();
    const fx = await startBroker({ overrides: { roles }, scimToken: SCIM_TOKEN, stores });
    fixtures.push(fx);
    const userId = (await scim(fx.server.url, 'POST', '/Users', { body: oktaUser('alice@example.com') })).body.id as string;
    const group = async (displayName: string) => (await scim(fx.server.url, 'POST', '/Groups', { body: { schemas: [GROUP_SCHEMA], displayName, members: [{ value: userId }] } })).body.id as string;
    const engineering = await group('engineering');
    await group('readers');
    const sum = await fx.grant(['get-sum']);
    const echo = await fx.grant(['echo']);
    const revoked = async (id: string) => (await fx.server.stores.access.getGrant(id))?.revokeReason ?? null;
    /** Sends `request` with the grant listing failing (503), then again, as the IdP retries; the retry's status. */
    const failThenRetry = async (request: () => Promise<{ status: number }>) => {
      arm();
      expect((await request()).status).toBe(503);
      return (await request()).status;
    };
    return { fx, userId, engineering, sum, echo, revoked, failThenRetry };
  }

  it('a PATCH removing a member: the retry, a change already made, revokes the grant only that membership founded', async () => {
    const { fx, userId, engineering, sum, echo, revoked, failThenRetry } = await aliceWithGrants();
    const remove = { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${userId}"]` }] };
    expect(await failThenRetry(() => scim(fx.server.url, 'PATCH', `/Groups/${engineering}`, { body: remove }))).toBe(200);
    expect(await revoked(sum)).toBe('basis_removed');
    expect(await revoked(echo)).toBeNull();
  });

  it('a DELETE: the retry, finding the group gone (404), revokes the grant only that group founded', async () => {
    const { fx, engineering, sum, echo, revoked, failThenRetry } = await aliceWithGrants();
    expect(await failThenRetry(() => scim(fx.server.url, 'DELETE', `/Groups/${engineering}`))).toBe(404);
    expect(await revoked(sum)).toBe('basis_removed');
    expect(await revoked(echo)).toBeNull();
  });
});
