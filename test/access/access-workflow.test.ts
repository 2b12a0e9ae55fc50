import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GrantEnded } from '../../server/access/access-events.js';
import { grantStatus, requestStatus } from '../../server/access/types.js';
import type { PortcullisError } from '../../server/errors.js';
import { accessFixture, principalOf, user } from '../support/access-fixture.js';
import { codeOf } from '../support/error-code.js';
import type { AccessFixture, Backend } from '../support/access-fixture.js';
import { sharedRedisUrl } from '../support/redis.js';

const HOUR = 3600;

const backends: Backend[] = sharedRedisUrl ? ['embedded', 'redis'] : ['embedded'];

for (const backend of backends) {
  describe(`just-in-time access workflow (${backend} store)`, () => {
    let fx: AccessFixture;
    const fixtures: AccessFixture[] = [];
    const fixture = async (options: { requiredApprovals?: number } = {}) => {
      const created = await accessFixture(backend, options);
      fixtures.push(created);
      return created;
    };
    beforeEach(async () => {
      fx = await fixture();
    });
    afterEach(async () => {
      await Promise.all(fixtures.splice(0).map((f) => f.stores.close()));
    });
    const auditTypes = async () => (await fx.stores.audit.read({ limit: 1000 })).map((e) => e.type);
    const request = (tools: string[] | null = ['read_file'], durationSeconds = HOUR) =>
      fx.access.createRequest(fx.as('alice'), { server: 'everything', tools, reason: 'incident 42', durationSeconds });

    describe('requests', () => {
      it('creates a PENDING request, audited, visible to its requester', async () => {
        const created = await request();
        expect(created).toMatchObject({ status: 'PENDING', tools: ['read_file'], denyTools: ['*delete*'], requester: { email: 'alice@example.com' } });
        expect(await fx.access.getRequest(fx.as('alice'), created.id)).toEqual(created);
        expect(await auditTypes()).toEqual(['access_request.created']);
      });

      it('auto-approves a request that fits an autoApprove rule: grant issued at once, still time-boxed and audited', async () => {
        const created = await request(['echo'], 600);
        expect(created.status).toBe('APPROVED');
        const grant = await fx.access.getGrant(fx.as('alice'), created.grantId!);
        expect(grant).toMatchObject({ tools: ['echo'], expiresAt: fx.clock.now() + 600_000, requestId: created.id });
        expect(await auditTypes()).toEqual(['access_request.created', 'grant.issued']);
      });

      it('takes the rule\'s tools when none are named', async () => {
        expect((await request(null)).tools).toEqual(['*']);
      });

      it.each([
        ['an unknown server', { server: 'nope' }, 'UNKNOWN_SERVER'],
        ['a denied tool', { tools: ['bulk_delete'] }, 'TOOL_NOT_REQUESTABLE'],
        ['a pattern wider than the deny list allows', { tools: ['*delete*'] }, 'TOOL_NOT_REQUESTABLE'],
        ['a server the role cannot request', { server: 'docs' }, 'TOOL_NOT_REQUESTABLE'],
        ['a duration over the rule maximum', { durationSeconds: 14401 }, 'DURATION_TOO_LONG'],
        ['a zero duration', { durationSeconds: 0 }, 'INVALID_INPUT'],
        ['an empty reason', { reason: '  ' }, 'INVALID_INPUT'],
        ['an over-long reason', { reason: 'x'.repeat(1001) }, 'INVALID_INPUT'],
        ['an invalid tool pattern', { tools: ['read file'] }, 'INVALID_INPUT'],
      ])('refuses %s, storing and auditing nothing', async (_name, override, code) => {
        const input = { server: 'everything', tools: ['read_file'], reason: 'why', durationSeconds: HOUR, ...override };
        expect(await codeOf(fx.access.createRequest(fx.as('alice'), input))).toBe(code);
        expect(await fx.stores.access.listRequests({ limit: 10 })).toEqual([]);
        expect(await auditTypes()).toEqual([]);
      });

      it('refuses a requester whose roles allow no requests', async () => {
        expect(await codeOf(fx.access.createRequest(fx.as('bob'), { server: 'everything', tools: ['echo'], reason: 'x', durationSeconds: 60 }))).toBe('TOOL_NOT_REQUESTABLE');
      });

      it('lets the requester cancel a pending request, and only then', async () => {
        const created = await request();
        expect(await codeOf(fx.access.cancelRequest(fx.as('frank'), created.id))).toBe('NOT_FOUND');
        expect((await fx.access.cancelRequest(fx.as('alice'), created.id)).status).toBe('CANCELLED');
        expect(await codeOf(fx.access.cancelRequest(fx.as('alice'), created.id))).toBe('REQUEST_NOT_PENDING');
        expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: created.id, decision: 'APPROVE' }))).toBe('REQUEST_NOT_PENDING');
      });
    });

    describe('reviews', () => {
      it('approves: APPROVED with one grant from the approval time, audited before it is visible', async () => {
        const created = await request(['read_file'], 7200);
        fx.clock.advance(60_000);
        const approved = await fx.access.reviewRequest(fx.as('bob'), { requestId: created.id, decision: 'APPROVE', reason: 'ok' });
        expect(approved).toMatchObject({ status: 'APPROVED', reviews: [{ reviewer: { email: 'bob@example.com' }, decision: 'APPROVE', reason: 'ok' }] });
        const grant = await fx.access.getGrant(fx.as('alice'), approved.grantId!);
        expect(grant).toMatchObject({ issuedAt: fx.clock.now(), expiresAt: fx.clock.now() + 7_200_000, tools: ['read_file'], denyTools: ['*delete*'] });
        expect(await auditTypes()).toEqual(['access_request.created', 'access_request.reviewed', 'grant.issued']);
      });

      it('lets an approver shorten the duration, never lengthen it', async () => {
        const created = await request(['read_file'], 7200);
        expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: created.id, decision: 'APPROVE', durationSeconds: 7201 }))).toBe('INVALID_INPUT');
        const approved = await fx.access.reviewRequest(fx.as('bob'), { requestId: created.id, decision: 'APPROVE', durationSeconds: 900 });
        expect((await fx.access.getGrant(fx.as('alice'), approved.grantId!)).expiresAt).toBe(fx.clock.now() + 900_000);
      });

      it('denies with one DENY, and the request is frozen afterwards', async () => {
        const created = await request();
        expect((await fx.access.reviewRequest(fx.as('bob'), { requestId: created.id, decision: 'DENY', reason: 'no' })).status).toBe('DENIED');
        expect(await codeOf(fx.access.reviewRequest(fx.as('erin'), { requestId: created.id, decision: 'APPROVE' }))).toBe('REQUEST_NOT_PENDING');
      });

      it('refuses self-review', async () => {
        const reviewer = await fixture();
        const created = await reviewer.access.createRequest(reviewer.as('frank'), { server: 'everything', tools: ['read_file'], reason: 'x', durationSeconds: 60 });
        expect(await codeOf(reviewer.access.reviewRequest(reviewer.as('frank'), { requestId: created.id, decision: 'APPROVE' }))).toBe('SELF_REVIEW');
      });

      it('audits a refused review: who tried what on which request, and why, changing nothing', async () => {
        const created = await request();
        expect(await codeOf(fx.access.reviewRequest(fx.as('alice'), { requestId: created.id, decision: 'APPROVE' }))).toBe('SELF_REVIEW');
        expect(await codeOf(fx.access.reviewRequest(fx.as('carol'), { requestId: created.id, decision: 'APPROVE' }))).toBe('NOT_FOUND');
        const refused = (await fx.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'access_request.review_refused');
        expect(refused.map(({ actor, outcome, data }) => ({ actor, outcome, data }))).toEqual([
          { actor: 'alice@example.com', outcome: 'DENIED', data: { requestId: created.id, decision: 'APPROVE', code: 'SELF_REVIEW', channel: 'api' } },
          { actor: 'carol@example.com', outcome: 'DENIED', data: { requestId: created.id, decision: 'APPROVE', code: 'NOT_FOUND', channel: 'api' } },
        ]);
        expect((await fx.access.getRequest(fx.as('alice'), created.id)).status).toBe('PENDING');
        // An id no request has is not written to the log, and the same refusal again within a minute is not audited again.
        const refusedNow = async () => (await fx.stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'access_request.review_refused');
        expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: 'x'.repeat(100_000), decision: 'DENY' }))).toBe('NOT_FOUND');
        expect((await refusedNow()).at(-1)).toMatchObject({ actor: 'bob@example.com', data: { requestId: null, code: 'NOT_FOUND' } });
        for (const requestId of ['no-such-request', 'another-one', 'x'.repeat(64)]) {
          expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId, decision: 'DENY' }))).toBe('NOT_FOUND');
        }
        expect(await codeOf(fx.access.reviewRequest(fx.as('alice'), { requestId: created.id, decision: 'APPROVE' }))).toBe('SELF_REVIEW');
        expect(await refusedNow()).toHaveLength(3);
        fx.clock.advance(60_000);
        expect(await codeOf(fx.access.reviewRequest(fx.as('alice'), { requestId: created.id, decision: 'APPROVE' }))).toBe('SELF_REVIEW');
        expect(await refusedNow()).toHaveLength(4);
        // Made-up ids, however many, are one (null) a minute; a refusal about a real request after them is audited all the same.
        for (let n = 0; n < 20; n++) expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: `guess-${n}`, decision: 'DENY' }))).toBe('NOT_FOUND');
        expect(await codeOf(fx.access.reviewRequest(fx.as('carol'), { requestId: created.id, decision: 'APPROVE' }))).toBe('NOT_FOUND');
        expect((await refusedNow()).slice(4).map((e) => [e.actor, e.data.requestId])).toEqual([
          ['bob@example.com', null],
          ['carol@example.com', created.id],
        ]);
      });

      it('refuses self-review by the requester\'s address through another identity (another IdP), whatever its ASCII case', async () => {
        const created = await request();
        const otherSelf = principalOf({ ...user('alice', ['sre']), id: 'partner:alice', idp: 'partner', email: 'Alice@EXAMPLE.com' }, fx.config);
        expect(fx.access.canReview(otherSelf, await fx.access.getRequest(fx.as('alice'), created.id))).toBe(false);
        expect(await codeOf(fx.access.reviewRequest(otherSelf, { requestId: created.id, decision: 'APPROVE' }))).toBe('SELF_REVIEW');
        expect((await fx.access.getRequest(fx.as('alice'), created.id)).status).toBe('PENDING');
      });

      it('refuses reviewers outside their rules the same way as unknown requests (no oracle)', async () => {
        const created = await request(['read_file']);
        const outside = await codeOf(fx.access.reviewRequest(fx.as('dave'), { requestId: created.id, decision: 'APPROVE' }));
        const unknown = await codeOf(fx.access.reviewRequest(fx.as('dave'), { requestId: 'f2b7a9ee-0000-4000-8000-000000000000', decision: 'APPROVE' }));
        expect([outside, unknown]).toEqual(['NOT_FOUND', 'NOT_FOUND']);
        expect(await codeOf(fx.access.reviewRequest(fx.as('carol'), { requestId: created.id, decision: 'APPROVE' }))).toBe('NOT_FOUND');
        const echo = await request(['echo'], 7200);
        expect((await fx.access.reviewRequest(fx.as('dave'), { requestId: echo.id, decision: 'APPROVE' })).status).toBe('APPROVED');
      });

      it('counts one review per reviewer towards requiredApprovals', async () => {
        const two = await fixture({ requiredApprovals: 2 });
        const created = await two.access.createRequest(two.as('alice'), { server: 'everything', tools: ['read_file'], reason: 'x', durationSeconds: HOUR });
        expect((await two.access.reviewRequest(two.as('bob'), { requestId: created.id, decision: 'APPROVE' })).status).toBe('PENDING');
        expect(await codeOf(two.access.reviewRequest(two.as('bob'), { requestId: created.id, decision: 'APPROVE' }))).toBe('ALREADY_REVIEWED');
        const approved = await two.access.reviewRequest(two.as('erin'), { requestId: created.id, decision: 'APPROVE', durationSeconds: 600 });
        expect(approved.status).toBe('APPROVED');
        expect((await two.access.getGrant(two.as('alice'), approved.grantId!)).expiresAt).toBe(two.clock.now() + 600_000);
      });

      it('issues exactly one grant and one grant.issued event for 20 parallel approvals', async () => {
        const created = await request();
        const results = await Promise.allSettled(
          Array.from({ length: 20 }, (_, i) => fx.access.reviewRequest(fx.as(i % 2 ? 'bob' : 'erin'), { requestId: created.id, decision: 'APPROVE' })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')) {
          expect(['REQUEST_NOT_PENDING', 'ALREADY_REVIEWED']).toContain((r.reason as PortcullisError).code);
        }
        expect((await fx.stores.access.listGrants({ limit: 100 })).length).toBe(1);
        expect((await auditTypes()).filter((t) => t === 'grant.issued')).toHaveLength(1);
      });
    });

    describe('visibility', () => {
      it('shows a request to its requester, eligible reviewers and auditors; others get the error unknown ids get', async () => {
        const created = await request();
        expect((await fx.access.getRequest(fx.as('bob'), created.id)).id).toBe(created.id);
        expect((await fx.access.getRequest(fx.as('carol'), created.id)).id).toBe(created.id);
        for (const outsider of ['frank', 'dave'] as const) {
          expect(await codeOf(fx.access.getRequest(fx.as(outsider), created.id))).toBe('NOT_FOUND');
        }
        expect(await codeOf(fx.access.getRequest(fx.as('frank'), 'no-such-id'))).toBe('NOT_FOUND');
      });

      it('lists own and reviewable requests, newest first, with cursor pagination', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          ids.push((await request(['read_file'])).id);
          fx.clock.advance(1000);
        }
        await fx.access.createRequest(fx.as('frank'), { server: 'everything', tools: ['echo'], reason: 'x', durationSeconds: 7200 });
        const page1 = await fx.access.listRequests(fx.as('alice'), { first: 2 });
        const page2 = await fx.access.listRequests(fx.as('alice'), { first: 2, after: page1.endCursor });
        const page3 = await fx.access.listRequests(fx.as('alice'), { first: 2, after: page2.endCursor });
        expect([...page1.items, ...page2.items, ...page3.items].map((r) => r.id)).toEqual(ids.reverse());
        expect([page1.hasNextPage, page2.hasNextPage, page3.hasNextPage]).toEqual([true, true, false]);
        expect((await fx.access.listRequests(fx.as('bob'), { first: 100 })).items).toHaveLength(6);
        expect((await fx.access.listRequests(fx.as('dave'), { first: 100 })).items.map((r) => r.requester.email)).toEqual(['frank@example.com']);
        expect((await fx.access.listRequests(fx.as('alice'), { mine: true, status: 'PENDING', first: 100 })).items).toHaveLength(5);
      });

      it('lists a user\'s own grants; auditors see every grant', async () => {
        await request(['echo'], 60);
        await fx.access.createRequest(fx.as('frank'), { server: 'everything', tools: ['echo'], reason: 'x', durationSeconds: 60 });
        expect((await fx.access.listGrants(fx.as('alice'), {})).items.map((g) => g.user.email)).toEqual(['alice@example.com']);
        expect((await fx.access.listGrants(fx.as('carol'), {})).items).toHaveLength(2);
        expect(await codeOf(fx.access.getGrant(fx.as('frank'), (await fx.access.listGrants(fx.as('alice'), {})).items[0]!.id))).toBe('NOT_FOUND');
      });
    });

    describe('expiry (advancing the clock, no sleeping)', () => {
      it('lapses an unreviewed request to EXPIRED, audited once, even when nobody looks at it', async () => {
        const created = await request();
        fx.clock.advance(HOUR * 1000);
        expect(requestStatus((await fx.stores.access.getRequest(created.id))!, fx.clock.now())).toBe('EXPIRED');
        expect(await fx.access.expireDue()).toEqual({ requests: 1, grants: 0 });
        expect(await fx.access.expireDue()).toEqual({ requests: 0, grants: 0 });
        expect((await fx.stores.access.getRequest(created.id))!.status).toBe('EXPIRED');
        expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: created.id, decision: 'APPROVE' }))).toBe('REQUEST_NOT_PENDING');
        expect((await auditTypes()).filter((t) => t === 'access_request.expired')).toHaveLength(1);
      });

      it('ends a grant at its expiresAt: grant.expired audited once and fanned out; it never becomes active again', async () => {
        const ended: GrantEnded[] = [];
        fx.events.onGrantEnded((e) => ended.push(e));
        const created = await request(['echo'], 60);
        fx.clock.advance(59_999);
        expect(grantStatus((await fx.stores.access.getGrant(created.grantId!))!, fx.clock.now())).toBe('ACTIVE');
        fx.clock.advance(1);
        expect(await fx.access.expireDue()).toEqual({ requests: 0, grants: 1 });
        expect((await fx.access.listGrants(fx.as('alice'), { active: true })).items).toEqual([]);
        expect(await codeOf(fx.access.revokeGrant(fx.as('alice'), created.grantId!, 'late'))).toBe('GRANT_NOT_ACTIVE');
        await expect.poll(() => ended).toEqual([{ grantId: created.grantId, userId: 'corp:alice', server: 'everything', status: 'EXPIRED', reason: 'grant expired' }]);
      });
    });

    describe('revocation', () => {
      it.each([
        ['its owner', 'alice'],
        ['a reviewer who could have approved it', 'bob'],
        ['an auditor', 'carol'],
      ] as const)('lets %s revoke a grant: durable, audited, fanned out, final', async (_who, who) => {
        const ended: GrantEnded[] = [];
        fx.events.onGrantEnded((e) => ended.push(e));
        const created = await request(['echo'], 600);
        const revoked = await fx.access.revokeGrant(fx.as(who), created.grantId!, 'done');
        expect(revoked).toMatchObject({ revokedAt: fx.clock.now(), revokedBy: `${who}@example.com`, revokeReason: 'done' });
        expect(grantStatus((await fx.stores.access.getGrant(created.grantId!))!, fx.clock.now())).toBe('REVOKED');
        expect(await codeOf(fx.access.revokeGrant(fx.as(who), created.grantId!, 'again'))).toBe('GRANT_NOT_ACTIVE');
        expect((await auditTypes()).filter((t) => t === 'grant.revoked')).toHaveLength(1);
        await expect.poll(() => ended.map((e) => e.status)).toEqual(['REVOKED']);
      });

      it('refuses anyone else with the error an unknown grant gets', async () => {
        const created = await request(['echo'], 600);
        expect(await codeOf(fx.access.revokeGrant(fx.as('frank'), created.grantId!, 'mine now'))).toBe('NOT_FOUND');
        expect(await codeOf(fx.access.revokeGrant(fx.as('frank'), 'no-such-grant', 'x'))).toBe('NOT_FOUND');
        expect(await codeOf(fx.access.revokeGrant(fx.as('alice'), created.grantId!, ' '))).toBe('INVALID_INPUT');
      });
    });
  });
}
