import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerWebSocketTransport } from '../../clients/mcp/websocket-client-transport.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { systemClock } from '../../server/clock.js';
import type { Stores } from '../../server/stores/types.js';
import { connectClient, startBroker, upgradeStatus } from '../support/broker-fixture.js';
import { startBrokerPair } from '../support/broker-pair.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { INITIALIZE, mcpFetch, openSession } from '../support/mcp-http.js';
import { connectWithSdk, DCR_METADATA, MemoryOAuthProvider, postForm, resourceUrl, TestBrowser } from '../support/oauth-client.js';
import { describeWithRedis, redisStoresForTest, uniquePrefix } from '../support/redis.js';
import { GROUP_ROLES, oktaUser, PATCH_OP, scim, SCIM_TOKEN } from '../support/scim-client.js';
import { cookieWsClient, postGraphQL } from '../support/test-server.js';
import { signIn, TEST_PUBLIC_URL } from '../support/test-idp.js';

/**
 * Issue 18 point 4: an IdP deactivating or deleting a user over SCIM ends everything the
 * user holds, at once and on every instance, and refuses them from then on; a group
 * change revokes the grants whose basis it removed.
 */

const ALICE = 'alice@example.com';
const LONG_CALL = { name: 'trigger-long-running-operation', arguments: { duration: 10, steps: 2 } };
const OKTA_DEACTIVATE = { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] };

async function events(stores: Stores): Promise<AuditEvent[]> {
  return stores.audit.read({ limit: 1000 });
}

async function provision(fx: BrokerFixture, userName = ALICE): Promise<string> {
  const res = await scim(fx.server.url, 'POST', '/Users', { body: oktaUser(userName) });
  if (res.status !== 201) throw new Error(`SCIM create: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

/** A request only a reviewer can approve: it stays pending. */
async function pendingRequest(fx: BrokerFixture): Promise<string> {
  const res = await fx.gql('mutation { createAccessRequest(input: { server: "everything", tools: ["get-env"], reason: "t", durationSeconds: 600 }) { id status } }');
  const request = (res.body.data as { createAccessRequest: { id: string; status: string } }).createAccessRequest;
  expect(request.status).toBe('PENDING');
  return request.id;
}

const RENAMED = 'alice.smith@example.com';
/** Entra ID renaming a user (a new user principal name). */
const ENTRA_RENAME = { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'userName', value: RENAMED }] };

/** Whom a credential (a cookie or an Authorization header) authenticates as: their email, or the error code. */
async function whoIs(fx: BrokerFixture, headers: { cookie: string } | { authorization: string }): Promise<string | undefined> {
  const { body } = await postGraphQL(fx.server.url, { query: '{ me { email } }' }, headers);
  const code = body.errors?.[0]?.extensions?.code;
  return (body.data as { me: { email: string } } | null | undefined)?.me.email ?? (typeof code === 'string' ? code : undefined);
}

/**
 * Entra ID renames alice, who signs in again under the new name; months later it
 * deactivates her. What she held under either name is refused, and her grant revoked.
 */
async function renameThenDeactivate(fx: BrokerFixture): Promise<void> {
  const userId = await provision(fx);
  const grantId = await fx.grant(['echo']);
  const token = await fx.token(['api']);
  expect((await scim(fx.server.url, 'PATCH', `/Users/${userId}`, { body: ENTRA_RENAME })).status).toBe(200);
  const cookie = await signIn(fx.server.url, fx.idp, { nameId: RENAMED, attributes: { email: RENAMED, groups: ['engineering'] } });
  expect(await whoIs(fx, { cookie })).toBe(RENAMED);
  expect((await scim(fx.server.url, 'PATCH', `/Users/${userId}`, { body: OKTA_DEACTIVATE })).status).toBe(200);
  expect(await whoIs(fx, { authorization: `Bearer ${token}` })).toBe('UNAUTHENTICATED');
  expect(await whoIs(fx, { cookie: fx.cookie })).toBe('UNAUTHENTICATED');
  expect(await whoIs(fx, { cookie })).toBe('UNAUTHENTICATED');
  expect((await fx.server.stores.access.getGrant(grantId))?.revokedAt).not.toBeNull();
  await expect(signIn(fx.server.url, fx.idp, { nameId: ALICE, attributes: { email: ALICE, groups: ['engineering'] } })).rejects.toThrow('sign-in failed with 401');
}

const grantStatus = async (fx: BrokerFixture, id: string) => {
  const grant = await fx.server.stores.access.getGrant(id);
  return { revoked: grant?.revokedAt !== null, reason: grant?.revokeReason };
};

describe('deprovisioning over SCIM (embedded store)', () => {
  const fixtures: BrokerFixture[] = [];
  const broker = async (overrides: Record<string, unknown> = {}) => {
    const fx = await startBroker({ overrides, scimToken: SCIM_TOKEN });
    fixtures.push(fx);
    return fx;
  };
  afterEach(async () => {
    await Promise.all(fixtures.splice(0).map((f) => f.close()));
  });

  it('deactivation ends the live MCP session and GraphQL subscription, refuses the token and the cookie, revokes the grant and cancels the pending request', async () => {
    const fx = await broker();
    const userId = await provision(fx);
    const grantId = await fx.grant(['echo', 'trigger-long-running-operation']);
    const requestId = await pendingRequest(fx);
    const token = await fx.token(['mcp', 'api']);
    const { client, transport } = await fx.connect(token);
    const inFlight = client.callTool(LONG_CALL).then(
      () => 'completed',
      (error: unknown) => error,
    );
    const subscriber = cookieWsClient(fx.server, fx.cookie, TEST_PUBLIC_URL);
    const subscriptionEnded = new Promise<unknown>((resolve) => subscriber.subscribe({ query: 'subscription { accessRequestChanged { id } }' }, { next: () => {}, error: resolve, complete: () => resolve('complete') }));
    const subscriberClosed = new Promise<{ code: number; reason: string }>((resolve) => subscriber.on('closed', (event) => resolve(event as { code: number; reason: string })));
    await new Promise((resolve) => subscriber.on('connected', resolve));

    const res = await scim(fx.server.url, 'PATCH', `/Users/${userId}`, { body: OKTA_DEACTIVATE });
    expect(res.status).toBe(200);

    expect(await inFlight).toMatchObject({ code: -32001, data: { reason: 'credential_revoked' } });
    await expect.poll(() => transport.closeInfo).toEqual({ code: 4401, reason: 'user deprovisioned by their identity provider' });
    expect(await subscriberClosed).toMatchObject({ code: 4401 });
    await subscriptionEnded;
    await subscriber.dispose();

    expect(await upgradeStatus(fx.wsUrl(), { authorization: `Bearer ${token}` })).toBe(401);
    expect((await postGraphQL(fx.server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${token}` })).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await fx.gql('{ me { email } }')).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(await grantStatus(fx, grantId)).toEqual({ revoked: true, reason: 'scim_user_deactivated' });
    expect((await fx.server.stores.access.getRequest(requestId))?.status).toBe('CANCELLED');

    const log = await events(fx.server.stores);
    expect(log.find((e) => e.type === 'scim.user.deactivated')).toMatchObject({ actor: null, data: { scimClient: 'corp', scimUserId: userId, userName: ALICE, active: false } });
    expect(log.find((e) => e.type === 'grant.revoked')).toMatchObject({ actor: null, data: { grantId, reason: 'scim_user_deactivated', scimClient: 'corp' } });
    expect(log.find((e) => e.type === 'access_request.cancelled')).toMatchObject({ actor: null, data: { requestId, reason: 'scim_user_deactivated' } });
    expect(log.find((e) => e.type === 'auth.token.revoked')).toMatchObject({ actor: null, data: { user: ALICE, reason: 'scim_user_deactivated' } });
  });

  it('ends the browser sign-in (its session removed, auth.logout audited) and closes the MCP session opened with it, and a Streamable HTTP session', async () => {
    const fx = await broker();
    const userId = await provision(fx);
    await fx.grant(['echo']);
    const cookieSession = new BrokerWebSocketTransport(fx.wsUrl(), { cookie: fx.cookie, origin: new URL(TEST_PUBLIC_URL).origin });
    await new Client({ name: 'cookie', version: '1' }).connect(cookieSession);
    const token = await fx.token(['mcp']);
    const session = await openSession(fx.httpUrl(), token);
    await scim(fx.server.url, 'PATCH', `/Users/${userId}`, { body: OKTA_DEACTIVATE });
    await expect.poll(() => cookieSession.closeInfo).toEqual({ code: 4401, reason: 'user deprovisioned by their identity provider' });
    expect((await mcpFetch(fx.httpUrl(), { jsonrpc: '2.0', id: 1, method: 'tools/list' }, { token, session })).status).toBe(401);
    const ended = async () => (await events(fx.server.stores)).filter((e) => e.type === 'mcp.session.end' && e.actor === ALICE).length;
    await expect.poll(ended).toBe(2);
    const logouts = (await events(fx.server.stores)).filter((e) => e.type === 'auth.logout' && e.actor === ALICE);
    expect(logouts).toHaveLength(1);
    expect(logouts[0]).toMatchObject({ outcome: 'SUCCESS', data: { initiatedBy: 'scim' } });
    expect(await fx.server.stores.sessions.get(String(logouts[0]!.data.sessionId))).toBeNull();
  });

  it('refuses the deactivated user\'s sign-in (user_deprovisioned); reactivation lets them sign in again but restores no old credential', async () => {
    const fx = await broker();
    const userId = await provision(fx);
    const token = await fx.token(['api']);
    await scim(fx.server.url, 'PATCH', `/Users/${userId}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] } });
    await expect(signIn(fx.server.url, fx.idp, { nameId: ALICE, attributes: { email: ALICE, groups: ['engineering'] } })).rejects.toThrow('sign-in failed with 401');
    const refused = (await events(fx.server.stores)).filter((e) => e.type === 'auth.login' && e.outcome === 'DENIED');
    expect(refused.at(-1)).toMatchObject({ data: { idp: 'corp', reason: 'user_deprovisioned' } });

    await scim(fx.server.url, 'PATCH', `/Users/${userId}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'active', value: 'True' }] } });
    const cookie = await signIn(fx.server.url, fx.idp, { nameId: ALICE, attributes: { email: ALICE, groups: ['engineering'] } });
    expect((await postGraphQL(fx.server.url, { query: '{ me { email } }' }, { cookie })).body.data).toEqual({ me: { email: ALICE } });
    expect((await fx.gql('{ me { email } }')).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await postGraphQL(fx.server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${token}` })).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await events(fx.server.stores)).map((e) => e.type)).toContain('scim.user.reactivated');
  });

  it('refuses a credential of a deactivated user even when its revocation was missed', async () => {
    const fx = await broker();
    const userId = await provision(fx);
    const token = await fx.token(['api']);
    // Straight to the store, as if the deprovisioning's revocations never ran.
    const user = (await fx.server.stores.scim.users.get('corp', userId))!;
    await fx.server.stores.scim.users.put({ ...user, active: false, revokedBefore: Date.now() });
    expect((await postGraphQL(fx.server.url, { query: '{ me { email } }' }, { authorization: `Bearer ${token}` })).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await fx.gql('{ me { email } }')).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('DELETE (as Entra ID sends it after a soft delete) ends everything too, and keeps refusing the old credentials', async () => {
    const fx = await broker();
    const userId = await provision(fx);
    const grantId = await fx.grant(['echo']);
    const token = await fx.token(['mcp']);
    const { transport } = await fx.connect(token);
    expect((await scim(fx.server.url, 'DELETE', `/Users/${userId}`)).status).toBe(204);
    await expect.poll(() => transport.closeInfo).toEqual({ code: 4401, reason: 'user deprovisioned by their identity provider' });
    expect(await grantStatus(fx, grantId)).toEqual({ revoked: true, reason: 'scim_user_deleted' });
    expect(await upgradeStatus(fx.wsUrl(), { authorization: `Bearer ${token}` })).toBe(401);
    await expect(signIn(fx.server.url, fx.idp, { nameId: ALICE, attributes: { email: ALICE, groups: ['engineering'] } })).rejects.toThrow('sign-in failed with 401');
    expect((await events(fx.server.stores)).map((e) => e.type)).toContain('scim.user.deleted');
  });

  it('a userName change ends what the former name held (live session, token, cookie, grant, pending request), audited; the person signs in again under the new name', async () => {
    const fx = await broker();
    const userId = await provision(fx);
    const grantId = await fx.grant(['echo']);
    const requestId = await pendingRequest(fx);
    const token = await fx.token(['mcp', 'api']);
    const { transport } = await fx.connect(token);

    const res = await scim(fx.server.url, 'PATCH', `/Users/${userId}`, { body: ENTRA_RENAME });
    expect(res.body).toMatchObject({ id: userId, userName: RENAMED, active: true });

    await expect.poll(() => transport.closeInfo).toEqual({ code: 4401, reason: 'user deprovisioned by their identity provider' });
    expect(await whoIs(fx, { authorization: `Bearer ${token}` })).toBe('UNAUTHENTICATED');
    expect(await whoIs(fx, { cookie: fx.cookie })).toBe('UNAUTHENTICATED');
    expect(await grantStatus(fx, grantId)).toEqual({ revoked: true, reason: 'scim_user_renamed' });
    expect((await fx.server.stores.access.getRequest(requestId))?.status).toBe('CANCELLED');
    // The former name signs in no more; the new one does, and is the SCIM user (a filter on the former name finds nobody).
    await expect(signIn(fx.server.url, fx.idp, { nameId: ALICE, attributes: { email: ALICE, groups: ['engineering'] } })).rejects.toThrow('sign-in failed with 401');
    const cookie = await signIn(fx.server.url, fx.idp, { nameId: RENAMED, attributes: { email: RENAMED, groups: ['engineering'] } });
    expect(await whoIs(fx, { cookie })).toBe(RENAMED);
    expect((await scim(fx.server.url, 'GET', `/Users?filter=${encodeURIComponent(`userName eq "${ALICE}"`)}`)).body.totalResults).toBe(0);
    expect((await scim(fx.server.url, 'GET', '/Users')).body.Resources?.map((u) => u.id)).toEqual([userId]);

    const log = await events(fx.server.stores);
    expect(log.find((e) => e.type === 'scim.user.updated')).toMatchObject({ actor: null, data: { scimUserId: userId, userName: RENAMED, renamedFrom: ALICE, changed: ['userName'] } });
    expect(log.find((e) => e.type === 'grant.revoked')).toMatchObject({ data: { grantId, reason: 'scim_user_renamed', scimUserId: userId } });
    expect(log.find((e) => e.type === 'auth.token.revoked')).toMatchObject({ data: { user: ALICE, reason: 'scim_user_renamed' } });
    expect(log.find((e) => e.type === 'auth.logout')).toMatchObject({ actor: ALICE, data: { initiatedBy: 'scim' } });

    // The IdP may provision the former name again (another person), or rename back to it: its old credentials stay refused.
    const other = await scim(fx.server.url, 'POST', '/Users', { body: oktaUser(ALICE) });
    expect(other.status).toBe(201);
    expect(await whoIs(fx, { authorization: `Bearer ${token}` })).toBe('UNAUTHENTICATED');
    expect((await scim(fx.server.url, 'DELETE', `/Users/${other.body.id as string}`)).status).toBe(204);
    const back = await scim(fx.server.url, 'PATCH', `/Users/${userId}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'Replace', path: 'userName', value: ALICE }] } });
    expect(back.body).toMatchObject({ id: userId, userName: ALICE, active: true });
    expect(await whoIs(fx, { authorization: `Bearer ${token}` })).toBe('UNAUTHENTICATED');
    expect(await whoIs(fx, { cookie: await signIn(fx.server.url, fx.idp, { nameId: ALICE, attributes: { email: ALICE, groups: ['engineering'] } }) })).toBe(ALICE);
  });

  it('after a rename and a later deactivation, the former name\'s token and cookie stay refused and its grant revoked', async () => {
    await renameThenDeactivate(await broker());
  });

  it('revokes OAuth authorizations: the access token is refused at the MCP endpoint and the refresh token no longer works', async () => {
    const fx = await broker();
    const userId = await provision(fx);
    await fx.grant(['echo']);
    const browser = new TestBrowser(fx.server.url, fx.idp);
    const provider = new MemoryOAuthProvider(DCR_METADATA.redirect_uris[0]!, DCR_METADATA);
    const tokens = await connectWithSdk(fx.server.url, browser, provider, resourceUrl('everything'));
    const initialize = () => mcpFetch(fx.httpUrl(), INITIALIZE, { token: tokens.access_token, accept: 'application/json' });
    expect((await initialize()).status).toBe(200);
    await scim(fx.server.url, 'PATCH', `/Users/${userId}`, { body: OKTA_DEACTIVATE });
    expect((await initialize()).status).toBe(401);
    const refreshed = await postForm(fx.server.url, '/oauth/token', { grant_type: 'refresh_token', refresh_token: tokens.refresh_token!, client_id: provider.info!.client_id });
    expect(refreshed).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    expect((await events(fx.server.stores)).find((e) => e.type === 'oauth.token.revoked')).toMatchObject({ data: { reason: 'deprovisioned' } });
  });
});

describe('group changes re-judge grants (embedded store)', () => {
  const fixtures: BrokerFixture[] = [];
  afterEach(async () => {
    await Promise.all(fixtures.splice(0).map((f) => f.close()));
  });
  const roles = GROUP_ROLES;

  it('revokes the grant whose basis a group removal took away (basis_removed), and keeps the one another role still covers', async () => {
    const fx = await startBroker({ overrides: { roles }, scimToken: SCIM_TOKEN });
    fixtures.push(fx);
    const userId = await provision(fx);
    const group = (displayName: string) => scim(fx.server.url, 'POST', '/Groups', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName, members: [{ value: userId }] } });
    const engineering = (await group('engineering')).body.id as string;
    await group('readers');
    const sum = await fx.grant(['get-sum']);
    const echo = await fx.grant(['echo']);
    const { transport } = await fx.connect(await fx.token(['mcp']));
    const subscriber = cookieWsClient(fx.server, fx.cookie, TEST_PUBLIC_URL);
    subscriber.subscribe({ query: 'subscription { accessRequestChanged { id } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    const subscriberClosed = new Promise<{ code: number; reason: string }>((resolve) => subscriber.on('closed', (event) => resolve(event as { code: number; reason: string })));
    await new Promise((resolve) => subscriber.on('connected', resolve));

    const removed = await scim(fx.server.url, 'PATCH', `/Groups/${engineering}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${userId}"]` }] } });
    expect(removed.status).toBe(200);

    expect(await grantStatus(fx, sum)).toEqual({ revoked: true, reason: 'basis_removed' });
    expect(await grantStatus(fx, echo)).toEqual({ revoked: false, reason: null });
    // The live credentials count with the SCIM groups now: get-sum is no longer requestable.
    const again = await fx.gql('mutation { createAccessRequest(input: { server: "everything", tools: ["get-sum"], reason: "t", durationSeconds: 60 }) { id } }');
    expect(again.body.errors?.[0]?.extensions?.code).toBe('TOOL_NOT_REQUESTABLE');
    // The subscription, authorized under the old roles, closes; the MCP session stays: its user is still someone, and one grant still holds.
    expect(await subscriberClosed).toMatchObject({ code: 4401, reason: 'roles changed by the identity provider: reconnect' });
    await subscriber.dispose();
    expect(transport.closeInfo).toBeUndefined();
    const log = await events(fx.server.stores);
    expect(log.find((e) => e.type === 'scim.group.updated')).toMatchObject({ actor: null, data: { scimClient: 'corp', groupId: engineering, removed: [userId] } });
    expect(log.find((e) => e.type === 'grant.revoked')).toMatchObject({ actor: null, data: { grantId: sum, reason: 'basis_removed', roles: ['reader'] } });
  });

  it('revokes a grant that lasts longer than the role left allows, and cancels a pending request no role left allows', async () => {
    const shortReader = { ...roles[1]!, request: [{ ...roles[1]!.request[0]!, maxDurationSeconds: 60 }] };
    const engineer = { ...roles[0]!, request: [...roles[0]!.request, { server: 'everything', tools: ['*'], maxDurationSeconds: 3600 }] };
    const fx = await startBroker({ overrides: { roles: [engineer, shortReader] }, scimToken: SCIM_TOKEN });
    fixtures.push(fx);
    const userId = await provision(fx);
    const group = (displayName: string) => scim(fx.server.url, 'POST', '/Groups', { body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName, members: [{ value: userId }] } });
    const engineering = (await group('engineering')).body.id as string;
    await group('readers');
    const longEcho = await fx.grant(['echo'], 3600);
    const shortEcho = await fx.grant(['echo'], 30);
    const pending = await pendingRequest(fx);

    expect((await scim(fx.server.url, 'PATCH', `/Groups/${engineering}`, { body: { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: `members[value eq "${userId}"]` }] } })).status).toBe(200);

    // readers may have echo for a minute: an hour's grant has lost its basis, half a minute's has not.
    expect(await grantStatus(fx, longEcho)).toEqual({ revoked: true, reason: 'basis_removed' });
    expect(await grantStatus(fx, shortEcho)).toEqual({ revoked: false, reason: null });
    expect((await fx.server.stores.access.getRequest(pending))?.status).toBe('CANCELLED');
    expect((await events(fx.server.stores)).find((e) => e.type === 'access_request.cancelled')).toMatchObject({ actor: null, data: { requestId: pending, reason: 'basis_removed', roles: ['reader'] } });
  });
});

describeWithRedis('deprovisioning across instances (Redis store)', () => {
  it('after a rename and a later deactivation, the former name\'s token and cookie stay refused and its grant revoked', async () => {
    const fx = await startBroker({ stores: await redisStoresForTest({ prefix: uniquePrefix(), clock: systemClock }), scimToken: SCIM_TOKEN });
    try {
      await renameThenDeactivate(fx);
    } finally {
      await fx.close();
    }
  });

  it('a deactivation on instance A closes the MCP session held on instance B', async () => {
    const pair = await startBrokerPair({}, SCIM_TOKEN);
    try {
      const userId = await provision(pair.a);
      await pair.a.grant(['echo']);
      const { transport } = await connectClient(`${pair.b.wsUrl}/mcp/ws/everything`, await pair.a.token(['mcp']));
      expect((await scim(pair.a.server.url, 'PATCH', `/Users/${userId}`, { body: OKTA_DEACTIVATE })).status).toBe(200);
      await expect.poll(() => transport.closeInfo).toEqual({ code: 4401, reason: 'user deprovisioned by their identity provider' });
      await expect(signIn(pair.b.url, pair.a.idp, { nameId: ALICE, attributes: { email: ALICE, groups: ['engineering'] } })).rejects.toThrow('sign-in failed with 401');
    } finally {
      await pair.close();
    }
  });
});
