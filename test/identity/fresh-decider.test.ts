import { afterEach, describe, expect, it } from 'vitest';
import { BROKER_POLICY, brokerConfig } from '../support/broker-fixture.js';
import { ManualClock } from '../support/manual-clock.js';
import { createApiToken, postGraphQL, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, signIn } from '../support/test-idp.js';

/**
 * An API token carries the groups its IdP asserted when it was made. A review through one
 * takes the reviewer's groups from their newest sign-in instead, which must be as recent as
 * a browser session could be: without SCIM, a person taken out of the reviewers' group must
 * not go on approving through a token made before.
 */

const ALICE = { attributes: { email: 'alice@example.com', groups: ['engineering'] } };
const BOB_LEAD = { nameId: 'bob@example.com', attributes: { email: 'bob@example.com', groups: ['sre'] } };
const BOB_NO_LONGER = { nameId: 'bob@example.com', attributes: { email: 'bob@example.com', groups: [] } };
const REVIEW = 'mutation($id: ID!) { reviewAccessRequest(input: { requestId: $id, decision: APPROVE }) { status } }';
const FILE_ECHO = 'mutation { createAccessRequest(input: { server: "everything", tools: ["echo"], reason: "incident", durationSeconds: 600 }) { status } }';
const CAROL_AUDITOR = { nameId: 'carol@example.com', attributes: { email: 'carol@example.com', groups: ['security'] } };

describe('a review through an API token', () => {
  const open: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((s) => s.close()));
  });

  async function setUp() {
    const clock = new ManualClock();
    const idp = await createTestIdp('corp');
    const config = brokerConfig(idp, { roles: [...BROKER_POLICY.roles, { name: 'auditor', members: { groups: ['security'] }, audit: true }] });
    const server = await startTestServer({ config, clock });
    open.push(server);
    const alice = await signIn(server.url, idp, ALICE);
    const request = async () => {
      const created = await postGraphQL(server.url, { query: 'mutation { createAccessRequest(input: { server: "everything", tools: ["*"], reason: "incident", durationSeconds: 600 }) { id } }' }, { cookie: alice });
      return (created.body.data as { createAccessRequest: { id: string } }).createAccessRequest.id;
    };
    const bobCookie = await signIn(server.url, idp, BOB_LEAD);
    const bobToken = await createApiToken(server.url, bobCookie, ['api'], 30 * 86_400);
    const review = async (id: string, headers: Record<string, string>) => (await postGraphQL(server.url, { query: REVIEW, variables: { id } }, headers)).body;
    return { clock, idp, server, request, bobToken, review };
  }

  it('decides while the reviewer\'s newest sign-in holds the reviewers\' group and is recent', async () => {
    const { request, bobToken, review } = await setUp();
    expect(await review(await request(), { authorization: `Bearer ${bobToken}` })).toMatchObject({ data: { reviewAccessRequest: { status: 'APPROVED' } } });
  });

  it('is refused once the reviewer signed in again without that group, though the token was made with it', async () => {
    const { idp, server, request, bobToken, review } = await setUp();
    await signIn(server.url, idp, BOB_NO_LONGER);
    const answer = await review(await request(), { authorization: `Bearer ${bobToken}` });
    expect(answer.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  });

  it('is refused once the reviewer\'s last sign-in is older than session.ttlSeconds, and decides again after a new one', async () => {
    const { clock, idp, server, request, bobToken, review } = await setUp();
    const id = await request();
    clock.advance(8 * 3600_000 + 1_000);
    const answer = await review(id, { authorization: `Bearer ${bobToken}` });
    expect(answer.errors?.[0]).toMatchObject({ message: expect.stringContaining('sign in to Portcullis again'), extensions: { code: 'SIGN_IN_TOO_OLD' } });
    // The IdP's clock is the broker's: the assertion is as of the broker's now.
    const now = clock.now();
    await signIn(server.url, idp, { ...BOB_LEAD, issueInstant: new Date(now), notBefore: new Date(now - 60_000), notOnOrAfter: new Date(now + 300_000) });
    expect(await review(id, { authorization: `Bearer ${bobToken}` })).toMatchObject({ data: { reviewAccessRequest: { status: 'APPROVED' } } });
  });

  it('holds accepting a changed tool and acting on anomalies to the same fresh sign-in', async () => {
    const { clock, idp, server, bobToken } = await setUp();
    const carolCookie = await signIn(server.url, idp, CAROL_AUDITOR);
    const carolToken = await createApiToken(server.url, carolCookie, ['api', 'audit:read'], 30 * 86_400);
    const code = async (token: string, query: string) => (await postGraphQL(server.url, { query }, { authorization: `Bearer ${token}` })).body.errors?.[0]?.extensions?.code;
    const accept = 'mutation { acceptToolChange(server: "everything", tool: "echo", hash: "0") { tool } }';
    const acknowledge = 'mutation { acknowledgeAnomaly(id: "no-such-anomaly") { id } }';
    // Fresh: on to the change or the anomaly, which do not exist.
    expect(await code(bobToken, accept)).not.toBe('SIGN_IN_TOO_OLD');
    expect(await code(carolToken, acknowledge)).toBe('NOT_FOUND');
    clock.advance(8 * 3600_000 + 1_000);
    expect(await code(bobToken, accept)).toBe('SIGN_IN_TOO_OLD');
    expect(await code(carolToken, acknowledge)).toBe('SIGN_IN_TOO_OLD');
  });

  it('auto-approves a request filed through a token only while the requester\'s newest sign-in holds the self-serving role and is recent', async () => {
    const { clock, idp, server } = await setUp();
    const aliceToken = await createApiToken(server.url, await signIn(server.url, idp, { nameId: 'alice@example.com', ...ALICE }), ['api'], 30 * 86_400);
    const file = async () => (await postGraphQL(server.url, { query: FILE_ECHO }, { authorization: `Bearer ${aliceToken}` })).body;
    expect(await file()).toMatchObject({ data: { createAccessRequest: { status: 'APPROVED' } } });
    // Past session.ttlSeconds: filed for a reviewer, not approved at once.
    clock.advance(8 * 3600_000 + 1_000);
    expect(await file()).toMatchObject({ data: { createAccessRequest: { status: 'PENDING' } } });
    // Signed in again without the group: the token's groups no longer file anything.
    const now = clock.now();
    await signIn(server.url, idp, { nameId: 'alice@example.com', attributes: { email: 'alice@example.com', groups: [] }, issueInstant: new Date(now), notBefore: new Date(now - 60_000), notOnOrAfter: new Date(now + 300_000) });
    const refused = await file();
    expect(refused.data).toBeFalsy();
    expect(refused.errors?.[0]?.extensions?.code).toBe('TOOL_NOT_REQUESTABLE');
  });
});
