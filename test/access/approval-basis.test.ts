import { afterEach, describe, expect, it } from 'vitest';
import { AccessPolicy } from '../../server/access/access-policy.js';
import { AccessService } from '../../server/access/access-service.js';
import { Principals } from '../../server/identity/principal.js';
import { accessConfig, accessFixture, principalOf, user } from '../support/access-fixture.js';
import type { AccessFixture } from '../support/access-fixture.js';
import { codeOf } from '../support/error-code.js';

/**
 * An approval hands out only what the requester could still ask for, by a reviewer who is
 * one person however many identities they have; a request must ask for something, and
 * nobody buries reviewers in requests.
 */

const fixtures: AccessFixture[] = [];
afterEach(async () => {
  await Promise.all(fixtures.splice(0).map((f) => f.stores.close()));
});

async function fixture(options: Parameters<typeof accessConfig>[0] = {}): Promise<AccessFixture> {
  const created = await accessFixture('embedded', options);
  fixtures.push(created);
  return created;
}

/** The same stores and clock under another config: what an instance restarted on a narrowed config runs. */
function serviceUnder(fx: AccessFixture, config: ReturnType<typeof accessConfig>): AccessService {
  const { stores, clock, events, cursors } = fx;
  const policy = new AccessPolicy(config);
  return new AccessService({ store: stores.access, audit: stores.audit, clock, policy, events, config, readOnlyTools: async () => [], principals: new Principals({ idps: [{ id: 'corp' }], roles: config.roles }), cursors });
}

const ask = (tools: string[] = ['*'], durationSeconds = 3600) => ({ server: 'everything', tools, reason: 'incident 42', durationSeconds });

describe('an approval needs the requester to hold a role that allows the request still', () => {
  const wide = { server: 'everything', tools: ['*'], denyTools: ['*delete*'], maxDurationSeconds: 14400 };
  it.each([
    ['a rule that now excludes more of what it asks for', { ...wide, denyTools: ['*delete*', 'drop_*'] }],
    ['a rule that now lasts shorter than it asks for', { ...wide, maxDurationSeconds: 600 }],
    ['a rule that now holds a tool it asks for to an argument rule', { ...wide, arguments: { 'run-sql': { type: 'object', properties: { sql: { type: 'string', pattern: '^SELECT ' } } } } }],
    ['a rule that is now read-only', { ...wide, readOnly: true }],
    ['no rule on that server any more', { ...wide, server: 'docs' }],
  ])('refuses it (BASIS_REMOVED) under %s, storing nothing', async (_name, rule) => {
    const fx = await fixture();
    const pending = await fx.access.createRequest(fx.as('alice'), ask());
    const narrowed = serviceUnder(fx, accessConfig({ engineerRules: [rule] }));
    expect(await codeOf(narrowed.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'APPROVE' }))).toBe('BASIS_REMOVED');
    expect(await fx.access.getRequest(fx.as('alice'), pending.id)).toMatchObject({ status: 'PENDING', reviews: [] });
    // A denial needs no basis.
    expect((await narrowed.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'DENY' })).status).toBe('DENIED');
  });

  it('judges the rule\'s deny patterns without regard to case, as the broker applies them', async () => {
    const fx = await fixture();
    const pending = await fx.access.createRequest(fx.as('alice'), ask(['DropUser', 'read_file']));
    const narrowed = serviceUnder(fx, accessConfig({ engineerRules: [{ ...wide, denyTools: ['*delete*', 'drop*'] }] }));
    expect(await codeOf(narrowed.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'APPROVE' }))).toBe('BASIS_REMOVED');
    // A pattern asked for that reaches a denied name only in another case.
    const wildcard = await fx.access.createRequest(fx.as('alice'), ask(['Drop*']));
    const exact = serviceUnder(fx, accessConfig({ engineerRules: [{ ...wide, denyTools: ['*delete*', 'drop_all'] }] }));
    expect(await codeOf(exact.reviewRequest(fx.as('bob'), { requestId: wildcard.id, decision: 'APPROVE' }))).toBe('BASIS_REMOVED');
  });

  it('holds a tool asked for in another case to the rule\'s argument rule, as the broker applies it', async () => {
    const fx = await fixture();
    const pending = await fx.access.createRequest(fx.as('alice'), ask(['RUN-SQL']));
    const narrowed = serviceUnder(fx, accessConfig({ engineerRules: [{ ...wide, arguments: { 'run-sql': { type: 'object', properties: { sql: { type: 'string', pattern: '^SELECT ' } } } } }] }));
    expect(await codeOf(narrowed.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'APPROVE' }))).toBe('BASIS_REMOVED');
  });

  it('takes an approver\'s shortening into account: a grant cut to the rule\'s new maximum may be approved', async () => {
    const fx = await fixture();
    const pending = await fx.access.createRequest(fx.as('alice'), ask(['read_file'], 3600));
    const shorter = serviceUnder(fx, accessConfig({ engineerRules: [{ ...wide, maxDurationSeconds: 600 }] }));
    expect(await codeOf(shorter.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'APPROVE' }))).toBe('BASIS_REMOVED');
    expect((await shorter.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'APPROVE', durationSeconds: 600 })).status).toBe('APPROVED');
  });

  it('approves it while a rule still allows all of it, the deny list it carries covering the rule\'s', async () => {
    const fx = await fixture();
    const pending = await fx.access.createRequest(fx.as('alice'), ask());
    // The same rule, and a narrower one beside it that the request does not fit: the first still founds it.
    const same = serviceUnder(fx, accessConfig({ engineerRules: [wide, { ...wide, tools: ['echo'], maxDurationSeconds: 60 }] }));
    expect((await same.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'APPROVE' })).status).toBe('APPROVED');
  });

  it('judges a deny pattern by whether the request reaches it: excluded by the request, or outside all it asks for', async () => {
    const fx = await fixture();
    const readOnly = await fx.access.createRequest(fx.as('alice'), ask(['read_file', 'get-*']));
    const narrowed = serviceUnder(fx, accessConfig({ engineerRules: [{ ...wide, denyTools: ['*delete*', 'drop_*'] }] }));
    expect((await narrowed.reviewRequest(fx.as('bob'), { requestId: readOnly.id, decision: 'APPROVE' })).status).toBe('APPROVED');
  });
});

describe('one person is one reviewer', () => {
  it('refuses a second approval from the same address under another user id (a transient NameID at each sign-in)', async () => {
    const fx = await fixture({ requiredApprovals: 2 });
    const pending = await fx.access.createRequest(fx.as('alice'), ask());
    await fx.access.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'APPROVE' });
    const bobAgain = principalOf({ ...user('bob', ['sre']), id: 'corp:_transient2', nameId: '_transient2' }, fx.config);
    expect(await codeOf(fx.access.reviewRequest(bobAgain, { requestId: pending.id, decision: 'APPROVE' }))).toBe('ALREADY_REVIEWED');
    expect(fx.access.canReview(bobAgain, await fx.access.getRequest(fx.as('bob'), pending.id))).toBe(false);
    expect((await fx.access.reviewRequest(fx.as('erin'), { requestId: pending.id, decision: 'APPROVE' })).status).toBe('APPROVED');
  });

  it('counts an earlier approval only while its reviewer may still review the request', async () => {
    const fx = await fixture({ requiredApprovals: 2 });
    const pending = await fx.access.createRequest(fx.as('alice'), ask());
    await fx.access.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'APPROVE' });
    // The reviewing role is now erin's and carol's by address: bob's approval no longer vouches for it.
    const config = accessConfig({ requiredApprovals: 2 });
    const reviewers = { ...config, roles: config.roles.map((role) => (role.name === 'sre-lead' ? { ...role, members: { ...role.members, groups: [], emails: ['erin@example.com', 'carol@example.com'] } } : role)) };
    const moved = serviceUnder(fx, reviewers);
    const carol = principalOf(user('carol', ['security']), reviewers);
    expect((await moved.reviewRequest(principalOf(user('erin', ['sre']), reviewers), { requestId: pending.id, decision: 'APPROVE' })).status).toBe('PENDING');
    expect((await moved.reviewRequest(carol, { requestId: pending.id, decision: 'APPROVE' })).status).toBe('APPROVED');
  });

  it('checks that the caller may review before it compiles their argument rules', async () => {
    const fx = await fixture();
    const pending = await fx.access.createRequest(fx.as('alice'), ask());
    const broken = { echo: { type: 'no-such-type' } };
    // frank is an engineer: the request is not his to review, whatever he sends.
    expect(await codeOf(fx.access.reviewRequest(fx.as('frank'), { requestId: pending.id, decision: 'APPROVE', arguments: broken }))).toBe('NOT_FOUND');
    expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: pending.id, decision: 'APPROVE', arguments: broken }))).toBe('INVALID_INPUT');
  });
});

describe('a request asks for something', () => {
  const resourcesOnly = { server: 'everything', tools: [], resources: ['demo://public/*'], maxDurationSeconds: 600 };

  it('is refused when it names no tool, resource or prompt, and nobody without review rules may review one', async () => {
    const fx = await fixture({ engineerRules: [resourcesOnly] });
    const nothing = { server: 'everything', resources: [], prompts: [], reason: 'x', durationSeconds: 60 };
    expect(await codeOf(fx.access.createRequest(fx.as('alice'), nothing))).toBe('INVALID_INPUT');
    expect(await fx.stores.audit.read({ limit: 10 })).toEqual([]);
    const policy = new AccessPolicy(fx.config);
    expect(policy.mayReview(fx.as('frank'), { server: 'everything', tools: [], resources: [], prompts: [] })).toBe(false);
    // What the rule offers is still requestable.
    expect((await fx.access.createRequest(fx.as('alice'), { ...nothing, resources: ['demo://public/a'] })).resources).toEqual(['demo://public/a']);
  });
});

describe('nobody buries reviewers in requests', () => {
  it('refuses a person\'s 21st waiting request (LIMIT_EXCEEDED), and takes one again once some are decided', async () => {
    const fx = await fixture();
    const filed = [];
    for (let i = 0; i < 20; i++) filed.push(await fx.access.createRequest(fx.as('alice'), ask(['read_file'])));
    expect(await codeOf(fx.access.createRequest(fx.as('alice'), ask(['read_file'])))).toBe('LIMIT_EXCEEDED');
    // Another person is not held by alice's backlog.
    expect((await fx.access.createRequest(fx.as('frank'), ask(['read_file']))).status).toBe('PENDING');
    await fx.access.cancelRequest(fx.as('alice'), filed[0]!.id);
    expect((await fx.access.createRequest(fx.as('alice'), ask(['read_file']))).status).toBe('PENDING');
  });

  it.each(['embedded', 'redis'] as const)('holds to the limit requests sent all at once, and stores and audits only those it takes (%s store)', async (backend) => {
    const fx = await accessFixture(backend);
    fixtures.push(fx);
    const outcomes = await Promise.allSettled(Array.from({ length: 30 }, () => fx.access.createRequest(fx.as('alice'), ask(['read_file']))));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(20);
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => (o.reason as { code?: string }).code)).toEqual(Array(10).fill('LIMIT_EXCEEDED'));
    expect(await fx.stores.access.listRequests({ requesterId: fx.as('alice').user.id, limit: 100 })).toHaveLength(20);
    expect((await fx.stores.audit.read({ limit: 100 })).filter((e) => e.type === 'access_request.created')).toHaveLength(20);
  });
});
