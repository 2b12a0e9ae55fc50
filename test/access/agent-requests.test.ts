import { afterEach, describe, expect, it } from 'vitest';
import { accessConfig, accessFixture } from '../support/access-fixture.js';
import type { AccessFixture, Backend } from '../support/access-fixture.js';
import { sharedRedisUrl } from '../support/redis.js';

/**
 * Issue 15, item 6: requests a model files from inside an MCP client are ordinary requests
 * (the same rules, reviews and audit), marked as an agent's, and kept from auto-approval
 * unless the operator allows it (broker.requestAccessTool.autoApprove).
 */

const backends: Backend[] = sharedRedisUrl ? ['embedded', 'redis'] : ['embedded'];
const AUTO_APPROVED = { server: 'everything', tools: ['echo'], reason: 'triage', durationSeconds: 600 };
const FILED_BY = { client: 'claude-code', sessionId: 's-1' };

for (const backend of backends) {
  describe(`requests an agent files (${backend} store)`, () => {
    const fixtures: AccessFixture[] = [];
    const fixture = async (autoApprove?: boolean) => {
      const base = accessConfig();
      // A copy: config defaults are shared objects, and one test must not change another's.
      const config = autoApprove === undefined ? base : { ...base, broker: { ...base.broker, requestAccessTool: { enabled: true, autoApprove } } };
      const created = await accessFixture(backend, { config });
      fixtures.push(created);
      return created;
    };
    afterEach(async () => {
      await Promise.all(fixtures.splice(0).map((f) => f.stores.close()));
    });

    it('waits for a reviewer even under an auto-approving rule, is marked and audited as an agent\'s, and a person\'s own request is still auto-approved', async () => {
      const fx = await fixture();
      const filed = await fx.access.createRequest(fx.as('alice'), AUTO_APPROVED, FILED_BY);
      expect(filed).toMatchObject({ status: 'PENDING', grantId: null, filedByAgent: FILED_BY });
      expect((await fx.access.getRequest(fx.as('alice'), filed.id)).filedByAgent).toEqual(FILED_BY);
      const created = (await fx.stores.audit.read({ limit: 100 })).find((e) => e.type === 'access_request.created');
      expect(created?.data).toMatchObject({ autoApprove: false, filedByAgent: FILED_BY });

      const own = await fx.access.createRequest(fx.as('alice'), AUTO_APPROVED);
      expect(own).toMatchObject({ status: 'APPROVED', grantId: expect.any(String) });
      expect(own.filedByAgent).toBeUndefined();

      // Reviewed like any other: never by the requester, by an approver as usual.
      const approved = await fx.access.reviewRequest(fx.as('bob'), { requestId: filed.id, decision: 'APPROVE' });
      expect(approved).toMatchObject({ status: 'APPROVED', grantId: expect.any(String) });
    });

    it('is auto-approved where the rule says so only when the operator allows it for agents', async () => {
      const fx = await fixture(true);
      expect(await fx.access.createRequest(fx.as('alice'), AUTO_APPROVED, FILED_BY)).toMatchObject({ status: 'APPROVED', grantId: expect.any(String) });
    });

    it('lets at most five requests filed from MCP clients wait at once; a person\'s own are not counted', async () => {
      const fx = await fixture();
      for (let i = 0; i < 5; i++) expect(await fx.access.createRequest(fx.as('alice'), AUTO_APPROVED, FILED_BY)).toMatchObject({ status: 'PENDING' });
      await expect(fx.access.createRequest(fx.as('alice'), AUTO_APPROVED, FILED_BY)).rejects.toMatchObject({ code: 'LIMIT_EXCEEDED' });
      expect((await fx.stores.audit.read({ limit: 100 })).filter((e) => e.type === 'access_request.created')).toHaveLength(5);
      expect(await fx.access.createRequest(fx.as('alice'), AUTO_APPROVED)).toMatchObject({ status: 'APPROVED' });
      // Another person's backlog is their own.
      expect(await fx.access.createRequest(fx.as('frank'), AUTO_APPROVED, FILED_BY)).toMatchObject({ status: 'PENDING' });
    });

    it('cannot ask for more than the person may: the same rules refuse it and store nothing', async () => {
      const fx = await fixture();
      await expect(fx.access.createRequest(fx.as('dave'), AUTO_APPROVED, FILED_BY)).rejects.toMatchObject({ code: 'TOOL_NOT_REQUESTABLE' });
      expect((await fx.stores.audit.read({ limit: 100 })).filter((e) => e.type === 'access_request.created')).toEqual([]);
    });
  });
}
