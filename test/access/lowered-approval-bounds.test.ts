import { afterEach, describe, expect, it } from 'vitest';
import { AccessEvents } from '../../server/access/access-events.js';
import { AccessPolicy } from '../../server/access/access-policy.js';
import { AccessService } from '../../server/access/access-service.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { ApiTokenService } from '../../server/identity/api-tokens.js';
import { CredentialEvents } from '../../server/identity/credential-events.js';
import { Principals } from '../../server/identity/principal.js';
import { ScimIdentityEffects } from '../../server/scim/identity-effects.js';
import type { ScimUserRecord } from '../../server/stores/types.js';
import { accessConfig, accessFixture } from '../support/access-fixture.js';
import type { AccessFixture, Backend } from '../support/access-fixture.js';
import { sharedRedisUrl } from '../support/redis.js';

/**
 * An operator lowers approvals.maxDurationSeconds and requestTtlSeconds and restarts.
 * Grants issued and requests filed under the higher bounds are still live, and older than
 * the new bounds: deprovisioning and anomaly responses must still find every one of them
 * (a grant they miss is kept by a user the IdP removed).
 */

const backends: Backend[] = sharedRedisUrl ? ['embedded', 'redis'] : ['embedded'];
const MINUTE = 60_000;
const ALICE = 'alice@example.com';

/** The config after the operator lowered both bounds (and the rules under them, as the schema requires). */
function loweredConfig(): PortcullisConfig {
  const config = accessConfig({ engineerRules: [{ server: 'everything', tools: ['*'], denyTools: ['*delete*'], maxDurationSeconds: 3600 }] });
  return { ...config, approvals: { requiredApprovals: 1, requestTtlSeconds: 600, maxDurationSeconds: 3600 } };
}

/** An AccessService over the fixture's store, as an instance restarted with `config` builds it. */
function restartedService(fx: AccessFixture, config: PortcullisConfig): AccessService {
  return new AccessService({
    store: fx.stores.access,
    audit: fx.stores.audit,
    clock: fx.clock,
    policy: new AccessPolicy(config),
    events: new AccessEvents(fx.stores.events),
    config,
    readOnlyTools: async () => [],
    principals: new Principals({ idps: [{ id: 'corp' }], roles: config.roles }),
    cursors: fx.cursors,
  });
}

/** The SCIM effects of an instance running `access`; alice has no Portcullis sightings, so only grants and requests are touched. */
function scimEffects(fx: AccessFixture, access: AccessService, config: PortcullisConfig): ScimIdentityEffects {
  const events = new CredentialEvents(fx.stores.events);
  const principals = new Principals({ idps: [{ id: 'corp' }], roles: config.roles });
  return new ScimIdentityEffects({
    store: fx.stores.scim,
    events,
    sessions: { endDeprovisioned: async () => [] },
    tokens: new ApiTokenService({ tokens: fx.stores.tokens, audit: fx.stores.audit, clock: fx.clock, principals, maxTtlSeconds: 3600, events }),
    oauth: { revokeAllOf: async () => 0 },
    access,
    policy: new AccessPolicy(config),
    roles: config.roles,
    clock: fx.clock,
  });
}

function deactivatedAlice(now: number): ScimUserRecord {
  return { id: 'scim-alice', idp: 'corp', userName: ALICE, externalId: null, active: false, emails: [], displayName: null, groups: null, revokedBefore: now, deletedAt: null, createdAt: now, updatedAt: now };
}

for (const backend of backends) {
  describe(`live grants and requests from before the bounds were lowered (${backend} store)`, () => {
    const fixtures: AccessFixture[] = [];
    afterEach(async () => {
      await Promise.all(fixtures.splice(0).map((f) => f.stores.close()));
    });

    /**
     * Under the default bounds (grants up to a day, requests pending an hour): a 4-hour grant
     * issued 140 minutes before the restart, a request filed 40 minutes before it, and a
     * grant issued after it under the lowered bounds; beside them a grant that expired and
     * one bob revoked, which nothing may count as live.
     */
    async function restartedWithLiveRecords() {
      const fx = await accessFixture(backend);
      fixtures.push(fx);
      const grantOf = async (access: AccessService, tools: string[], durationSeconds: number) => {
        const request = await access.createRequest(fx.as('alice'), { server: 'everything', tools, reason: 'incident', durationSeconds });
        const approved = request.status === 'APPROVED' ? request : await access.reviewRequest(fx.as('bob'), { requestId: request.id, decision: 'APPROVE' });
        return approved.grantId!;
      };
      const expired = await grantOf(fx.access, ['echo'], 600);
      const revoked = await grantOf(fx.access, ['get-env'], 14_400);
      await fx.access.revokeGrant(fx.as('bob'), revoked, 'done');
      const long = await grantOf(fx.access, ['get-env'], 14_400);
      fx.clock.advance(100 * MINUTE);
      const pending = (await fx.access.createRequest(fx.as('alice'), { server: 'everything', tools: ['get-env'], reason: 'later', durationSeconds: 3600 })).id;
      fx.clock.advance(40 * MINUTE);
      const lowered = loweredConfig();
      const access = restartedService(fx, lowered);
      const recent = await grantOf(access, ['get-env'], 1800);
      return { fx, access, lowered, expired, revoked, long, recent, pending };
    }

    it('the store indexes exactly the live ones, soonest to end first: revoked, expired (swept or not) and decided ones drop out', async () => {
      const { fx, long, recent, pending } = await restartedWithLiveRecords();
      const now = fx.clock.now();
      expect((await fx.stores.access.activeGrants(now)).map((g) => g.id)).toEqual([recent, long]);
      expect((await fx.stores.access.pendingRequests(now)).map((r) => r.id)).toEqual([pending]);
      await fx.access.expireDue();
      fx.clock.advance(30 * MINUTE);
      expect((await fx.stores.access.activeGrants(fx.clock.now())).map((g) => g.id)).toEqual([long]);
      expect(await fx.stores.access.pendingRequests(fx.clock.now())).toEqual([]);
    });

    it('an anomaly response (activeGrantsOf) finds the grant issued longer ago than the lowered maximum', async () => {
      const { access, long, recent } = await restartedWithLiveRecords();
      const found = await access.activeGrantsOf(ALICE, null);
      expect(found.map((g) => g.id).sort()).toEqual([long, recent].sort());
      // The address in another ASCII case (as another sign-in's IdP may assert it) is the same person's.
      expect((await access.activeGrantsOf(ALICE.toUpperCase(), null)).map((g) => g.id).sort()).toEqual([long, recent].sort());
    });

    it('the pending requests include one filed longer ago than the lowered request TTL', async () => {
      const { access, pending } = await restartedWithLiveRecords();
      const found = await access.pendingRequestsWhere((r) => r.requester.email === ALICE);
      expect(found.map((r) => r.id)).toEqual([pending]);
    });

    it('deprovisioning over SCIM revokes every still-active grant and cancels every pending request, whatever the lowered bounds', async () => {
      const { fx, access, lowered, expired, revoked, long, recent, pending } = await restartedWithLiveRecords();
      await scimEffects(fx, access, lowered).deprovisioned(deactivatedAlice(fx.clock.now()), 'deactivated');
      const reasonOf = async (id: string) => (await fx.stores.access.getGrant(id))?.revokeReason;
      expect(await reasonOf(long)).toBe('scim_user_deactivated');
      expect(await reasonOf(recent)).toBe('scim_user_deactivated');
      expect(await reasonOf(revoked)).toBe('done');
      expect(await reasonOf(expired)).toBeNull();
      expect((await fx.stores.access.getRequest(pending))?.status).toBe('CANCELLED');
      expect(await access.activeGrantsOf(ALICE, null)).toEqual([]);
    });
  });
}
