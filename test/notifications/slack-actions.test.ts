import { createHmac } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../server/clock.js';
import { Principals } from '../../server/identity/principal.js';
import { SlackActions } from '../../server/notifications/slack-actions.js';
import type { DecidingSlackSink } from '../../server/notifications/slack-actions.js';
import { slackSinkConfig } from '../../server/notifications/slack-config.js';
import { SLACK_TIMESTAMP_WINDOW_MS, slackSigners } from '../../server/notifications/slack-signature.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { startBroker } from '../support/broker-fixture.js';
import { captureLogs } from '../support/log-capture.js';
import { ManualClock } from '../support/manual-clock.js';
import type { BrokerFixture, BrokerPerson } from '../support/broker-fixture.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';
import { buttonClick, denySubmission, postAction, signedAction, startSlackReceiver } from '../support/slack-receiver.js';
import type { SlackReceiver, SlackUser } from '../support/slack-receiver.js';
import { startTestServer } from '../support/test-server.js';

const TOKEN = 'xoxb-4242-slack-actions-bot-token';
const SECRET = 'slack-signing-secret-8e3f1a9c2b7d4e60';
const TEAM = 'T0PORTCULL';
const APPROVE = 'portcullis-approve';
const DENY = 'portcullis-deny';
const CREATE = 'mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { id status } }';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function slackUser(id: string, email: string | undefined, overrides: Partial<SlackUser> = {}): SlackUser {
  return { id, team_id: TEAM, deleted: false, is_bot: false, is_restricted: false, is_ultra_restricted: false, is_email_confirmed: true, profile: email === undefined ? {} : { email }, ...overrides };
}

interface Setup {
  fx: BrokerFixture;
  slack: SlackReceiver;
  /** Bob, of the sre group: a reviewer on `everything`, signed in (so in the user directory). */
  bob: BrokerPerson;
  /** A pending request of alice's, once its Slack message is posted. */
  pending(): Promise<{ id: string }>;
  request(id: string): Promise<{ status: string; grantId: string | null; reviews: { decision: string; reason: string | null }[] }>;
  act(payload: unknown, signing?: { timestampSeconds?: number; signature?: string }): Promise<{ status: number; body: string }>;
}

function suite(stores: () => Promise<Stores | undefined>) {
  async function setup(sink: Record<string, unknown> = {}): Promise<Setup> {
    const slack = await startSlackReceiver({ token: TOKEN });
    cleanups.push(() => slack.close());
    const sinkConfig = { name: 'chat', type: 'slack', botToken: TOKEN, channel: 'C0PORTCULL', apiBaseUrl: slack.apiBaseUrl, signingSecret: SECRET, teamId: TEAM, events: ['access_request.created', 'access_request.reviewed'], ...sink };
    const fx = await startBroker({ overrides: { notifications: { sinks: [sinkConfig] } }, stores: await stores() });
    cleanups.push(() => fx.close());
    const bob = await fx.signInAs('bob@example.com', ['sre']);
    slack.users.set('U0BOB', slackUser('U0BOB', 'Bob@Example.com'));
    const posted = (id: string) => slack.calls.find((call) => call.method === 'chat.postMessage' && JSON.stringify(call.body.blocks).includes(id));
    return {
      fx,
      slack,
      bob,
      pending: async () => {
        const created = await fx.gql(CREATE, { input: { server: 'everything', tools: ['get-env'], reason: 'incident 7', durationSeconds: 600 } });
        const { id } = (created.body.data as { createAccessRequest: { id: string; status: string } }).createAccessRequest;
        await vi.waitFor(() => expect(posted(id)).toBeDefined(), { timeout: 15_000 });
        return { id };
      },
      request: async (id) => {
        const record = (await fx.server.stores.access.getRequest(id))!;
        return { status: record.status, grantId: record.grantId, reviews: record.reviews.map((r) => ({ decision: r.decision, reason: r.reason })) };
      },
      act: (payload, signing = {}) => postAction(fx.server.url, signedAction(payload, { secret: SECRET, ...signing })),
    };
  }

  const ephemerals = (slack: SlackReceiver) => slack.calls.filter((call) => call.method === 'chat.postEphemeral').map((call) => call.body);
  const clicker = (user = 'U0BOB', team = TEAM) => ({ user, team });

  describe('the message', () => {
    it('carries Approve (with a confirm dialog) and Deny as interactive buttons whose value is the request id, and the console as a URL button', async () => {
      const s = await setup();
      const { id } = await s.pending();
      const message = s.slack.calls.find((call) => call.method === 'chat.postMessage')!;
      const buttons = message.body.blocks.find((block) => block.type === 'actions')!.elements as Record<string, unknown>[];
      expect(buttons.map((b) => [b.action_id, b.value, b.url !== undefined, b.confirm !== undefined])).toEqual([
        [APPROVE, id, false, true],
        [DENY, id, false, false],
        ['link-2', undefined, true, false],
      ]);
    });
  });

  describe('approve', () => {
    it('from Slack issues the grant, is audited with channel slack, and the message is updated by chat.update', async () => {
      const s = await setup();
      const { id } = await s.pending();
      expect((await s.act(buttonClick(APPROVE, id, clicker()))).status).toBe(200);
      await vi.waitFor(async () => expect((await s.request(id)).status).toBe('APPROVED'), { timeout: 15_000 });
      expect((await s.request(id)).grantId).not.toBeNull();
      const reviewed = (await s.fx.server.stores.audit.read({ limit: 10_000 })).find((e) => e.type === 'access_request.reviewed' && e.data.requestId === id)!;
      expect(reviewed).toMatchObject({ actor: 'bob@example.com', data: { decision: 'APPROVE', channel: 'slack', slack: { user: 'U0BOB', team: TEAM } } });
      await vi.waitFor(() => expect(s.slack.calls.find((call) => call.method === 'chat.update')?.body.text).toBe('Access request APPROVED: alice@example.com on everything'), { timeout: 15_000 });
      // The very message posted for the request (its channel and the ts Slack gave it), now without the decision buttons.
      const update = s.slack.calls.find((call) => call.method === 'chat.update')!;
      expect(update.body).toMatchObject({ channel: 'C0PORTCULL', ts: expect.stringMatching(/^1764480000\./) });
      expect(JSON.stringify(update.body.blocks)).not.toContain(APPROVE);
      expect(ephemerals(s.slack)).toEqual([]);
    });

    it('refuses from Slack a request a model filed, whose message (one posted before its button was taken away) still had the button', async () => {
      const s = await setup();
      const { id } = await s.pending();
      const stored = (await s.fx.server.stores.access.getRequest(id))!;
      expect(await s.fx.server.stores.access.updateRequest({ ...stored, filedByAgent: { client: 'Claude Desktop', sessionId: 's-1' }, version: stored.version + 1 })).toBe(true);
      expect((await s.act(buttonClick(APPROVE, id, clicker()))).status).toBe(200);
      await vi.waitFor(() => expect(ephemerals(s.slack).map((m) => m.text)).toEqual([expect.stringContaining('a model filed this request')]), { timeout: 15_000 });
      expect((await s.request(id)).status).toBe('PENDING');
    });

    it('a review through the API is audited with channel api', async () => {
      const s = await setup();
      const { id } = await s.pending();
      const res = await s.bob.gql('mutation($id: ID!) { reviewAccessRequest(input: { requestId: $id, decision: APPROVE }) { status } }', { id });
      expect(res.body.errors).toBeUndefined();
      const reviewed = (await s.fx.server.stores.audit.read({ limit: 10_000 })).find((e) => e.type === 'access_request.reviewed' && e.data.requestId === id)!;
      expect(reviewed.data).toMatchObject({ channel: 'api' });
      expect(reviewed.data.slack).toBeUndefined();
    });
  });

  describe('deny', () => {
    it('opens a dialog; an empty reason is an error in it and changes nothing; a reason denies', async () => {
      const s = await setup();
      const { id } = await s.pending();
      expect((await s.act(buttonClick(DENY, id, clicker()))).status).toBe(200);
      await vi.waitFor(() => expect(s.slack.calls.find((call) => call.method === 'views.open')).toBeDefined(), { timeout: 15_000 });
      expect(s.slack.calls.find((call) => call.method === 'views.open')!.body).toMatchObject({ trigger_id: `trigger-${DENY}`, view: { type: 'modal', private_metadata: id } });
      const empty = await s.act(denySubmission(id, '   ', clicker()));
      expect(empty.status).toBe(200);
      expect(JSON.parse(empty.body)).toEqual({ response_action: 'errors', errors: { reason: expect.stringContaining('reason') } });
      expect(await s.request(id)).toMatchObject({ status: 'PENDING', reviews: [] });
      const denied = await s.act(denySubmission(id, 'not during the freeze', clicker()));
      expect(denied).toEqual({ status: 200, body: '' });
      expect(await s.request(id)).toMatchObject({ status: 'DENIED', reviews: [{ decision: 'DENY', reason: 'not during the freeze' }] });
    });
  });

  describe('requests that are not Slack\'s, or not now', () => {
    it('refuses a forged signature, a stale timestamp and a replayed request, changing nothing', async () => {
      const s = await setup();
      const { id } = await s.pending();
      const forged = await postAction(s.fx.server.url, signedAction(buttonClick(APPROVE, id, clicker()), { secret: 'another-secret-of-sixteen-chars' }));
      expect(forged.status).toBe(401);
      const stale = await s.act(buttonClick(APPROVE, id, clicker()), { timestampSeconds: Math.floor(Date.now() / 1000) - 6 * 60 });
      expect(stale.status).toBe(401);
      const submission = signedAction(denySubmission(id, '', clicker()), { secret: SECRET });
      expect((await postAction(s.fx.server.url, submission)).status).toBe(200);
      expect((await postAction(s.fx.server.url, submission)).status).toBe(401);
      expect(await s.request(id)).toMatchObject({ status: 'PENDING', reviews: [] });
      expect(s.slack.calls.filter((call) => call.method === 'users.info')).toEqual([]);
      const logs = s.fx.server.logs.join('');
      for (const reason of ['bad_signature', 'stale_timestamp', 'replayed']) expect(logs).toContain(`"reason":"${reason}"`);
    });

    it('refuses another workspace when teamId is set', async () => {
      const s = await setup();
      const { id } = await s.pending();
      expect((await s.act(buttonClick(APPROVE, id, clicker('U0BOB', 'T0ELSEWHERE')))).status).toBe(200);
      await vi.waitFor(() => expect(s.fx.server.logs.join('')).toContain('"reason":"wrong_team"'), { timeout: 15_000 });
      expect(await s.request(id)).toMatchObject({ status: 'PENDING', reviews: [] });
    });

    it('never writes the signing secret or the bot token to the log', async () => {
      const s = await setup();
      const { id } = await s.pending();
      await s.act(buttonClick(APPROVE, id, clicker('U0NOBODY')));
      await postAction(s.fx.server.url, signedAction(buttonClick(APPROVE, id, clicker()), { secret: 'another-secret-of-sixteen-chars' }));
      await vi.waitFor(() => expect(ephemerals(s.slack)).toHaveLength(1), { timeout: 15_000 });
      const logs = s.fx.server.logs.join('');
      expect(logs).toContain('slack: action refused');
      expect(logs).not.toContain(SECRET);
      expect(logs).not.toContain(TOKEN);
    });
  });

  describe('the Slack user must be a Portcullis user who may review', () => {
    /** Clicks Approve as `user` and returns what the clicker was told; the request is unchanged. */
    async function refusedApprove(s: Setup, user: SlackUser): Promise<string> {
      s.slack.users.set(user.id, user);
      const { id } = await s.pending();
      expect((await s.act(buttonClick(APPROVE, id, clicker(user.id)))).status).toBe(200);
      await vi.waitFor(() => expect(ephemerals(s.slack)).toHaveLength(1), { timeout: 15_000 });
      expect(await s.request(id)).toMatchObject({ status: 'PENDING', reviews: [] });
      expect(ephemerals(s.slack)[0]).toMatchObject({ channel: 'C0PORTCULL', user: user.id });
      return ephemerals(s.slack)[0]!.text;
    }

    it('refuses an unconfirmed email, a deleted user and a bot', async () => {
      expect(await refusedApprove(await setup(), slackUser('U0UNCONF', 'bob@example.com', { is_email_confirmed: false }))).toContain('not confirmed');
      expect(await refusedApprove(await setup(), slackUser('U0GONE', 'bob@example.com', { deleted: true }))).toContain('cannot decide');
      expect(await refusedApprove(await setup(), slackUser('U0BOT', 'bob@example.com', { is_bot: true }))).toContain('cannot decide');
    });

    it('refuses a guest, an external member of a shared channel and a member of another workspace, even with a reviewer\'s confirmed email', async () => {
      for (const overrides of [{ is_restricted: true }, { is_ultra_restricted: true }, { is_stranger: true }, { team_id: 'T0VENDOR' }]) {
        expect(await refusedApprove(await setup(), slackUser('U0OUTSIDE', 'bob@example.com', overrides))).toContain('cannot decide');
      }
    });

    it('asks for a recent Portcullis sign-in: older than session.ttlSeconds by default, or the sink\'s reviewerSignInMaxAgeSeconds', async () => {
      /** Bob's entry as if he last signed in `ageSeconds` ago. */
      const signedInAgo = async (s: Setup, ageSeconds: number) => {
        const [entry] = await s.fx.server.stores.directory.byEmail('bob@example.com');
        await s.fx.server.stores.directory.seen(entry!.user, Date.now() - ageSeconds * 1000);
      };
      const byDefault = await setup();
      await signedInAgo(byDefault, 8 * 3600 + 60);
      expect(await refusedApprove(byDefault, slackUser('U0BOB', 'bob@example.com'))).toContain('sign in to Portcullis first');
      const shorter = await setup({ reviewerSignInMaxAgeSeconds: 600 });
      await signedInAgo(shorter, 1200);
      expect(await refusedApprove(shorter, slackUser('U0BOB', 'bob@example.com'))).toContain('sign in to Portcullis first');
      expect(shorter.fx.server.logs.join('')).toContain('"reason":"sign_in_too_old"');
    });

    it('refuses an email no Portcullis user has signed in with', async () => {
      expect(await refusedApprove(await setup(), slackUser('U0STRANGER', 'stranger@example.com'))).toContain('no Portcullis user with the email stranger@example.com');
    });

    it('refuses a user who is not an eligible reviewer', async () => {
      const s = await setup();
      await s.fx.signInAs('frank@example.com', ['engineering']);
      expect(await refusedApprove(s, slackUser('U0FRANK', 'frank@example.com'))).toContain('may not review');
    });

    it('refuses the requester themself', async () => {
      const s = await setup();
      s.slack.users.set('U0ALICE', slackUser('U0ALICE', 'alice@example.com'));
      // Alice reviews too now (her latest sign-in says so): still not her own request.
      await s.fx.signInAs('alice@example.com', ['engineering', 'sre']);
      const { id } = await s.pending();
      await s.act(buttonClick(APPROVE, id, clicker('U0ALICE')));
      await vi.waitFor(() => expect(ephemerals(s.slack)).toHaveLength(1), { timeout: 15_000 });
      expect(ephemerals(s.slack)[0]!.text).toContain('nobody reviews their own request');
      expect(await s.request(id)).toMatchObject({ status: 'PENDING', reviews: [] });
    });

    it('refuses the requester through another identity of her address (the directory maps her Slack email to it)', async () => {
      const s = await setup();
      const { id } = await s.pending();
      // Alice's own entry now names another address; another identity with her address, a reviewer, signed in since.
      const [alice] = await s.fx.server.stores.directory.byEmail('alice@example.com');
      await s.fx.server.stores.directory.seen({ ...alice!.user, email: 'alice.old@example.com' }, Date.now());
      await s.fx.server.stores.directory.seen({ ...alice!.user, id: 'corp:alice-admin', nameId: 'alice-admin', email: 'Alice@example.com', groups: ['sre'] }, Date.now());
      s.slack.users.set('U0ALICE', slackUser('U0ALICE', 'alice@example.com'));
      await s.act(buttonClick(APPROVE, id, clicker('U0ALICE')));
      await vi.waitFor(() => expect(ephemerals(s.slack)).toHaveLength(1), { timeout: 15_000 });
      expect(ephemerals(s.slack)[0]!.text).toContain('nobody reviews their own request');
      expect(await s.request(id)).toMatchObject({ status: 'PENDING', reviews: [] });
    });
  });
}

describe('deciding from Slack (embedded store)', () => suite(async () => undefined));
describeWithRedis('deciding from Slack (Redis store)', () => suite(() => redisStoresForTest({ clock: systemClock })));

describe('the replay mark', () => {
  /** An instance answering Slack actions with its own clock, over a replay store shared by every instance (which expires marks by its clock). */
  const instance = (stores: Stores, clock: ManualClock) =>
    new SlackActions({
      sinks: [slackSinkConfig.parse({ type: 'slack', name: 'chat', botToken: TOKEN, channel: 'C0PORTCULL', signingSecret: SECRET, teamId: TEAM }) as DecidingSlackSink],
      replay: stores.assertionReplay,
      directory: stores.directory,
      principals: new Principals({ idps: [], roles: [] }),
      access: { reviewRequest: () => Promise.reject(new Error('no review in this test')), getRequest: () => Promise.reject(new Error('no review in this test')) },
      signInMaxAgeSeconds: 3600,
      clock,
      logger: captureLogs().logger,
      onRefused: () => {},
    });

  it('outlives the window: an instance whose clock lags still refuses a replay after the storing instance\'s window has passed', async () => {
    const storeClock = new ManualClock();
    const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-slack-replay-')), clock: storeClock });
    cleanups.push(() => stores.close());
    // A click on the console link button: signed and consumed, and nothing else to do.
    const signed = signedAction({ type: 'block_actions', team: { id: TEAM }, user: { id: 'U0BOB' }, actions: [{ action_id: 'link-2' }] }, { secret: SECRET, timestampSeconds: Math.floor(storeClock.now() / 1000) });
    const headers = { timestamp: signed.headers['x-slack-request-timestamp'], signature: signed.headers['x-slack-signature'] };
    expect((await instance(stores, storeClock).handle(Buffer.from(signed.body), headers)).status).toBe(200);
    storeClock.advance(SLACK_TIMESTAMP_WINDOW_MS + 60_000);
    // Four minutes behind: the timestamp is still within its window there.
    const lagging = new ManualClock(storeClock.now() - 4 * 60_000);
    expect((await instance(stores, lagging).handle(Buffer.from(signed.body), headers)).status).toBe(401);
  });

  it('refuses a timestamp exactly at the window\'s edge', () => {
    const body = Buffer.from('payload=%7B%7D');
    const timestamp = 1_764_480_000;
    const signature = `v0=${createHmac('sha256', SECRET).update(`v0:${timestamp}:`).update(body).digest('hex')}`;
    const at = (ms: number) => slackSigners([SECRET], { timestamp: String(timestamp), signature }, body, timestamp * 1000 + ms);
    expect(at(SLACK_TIMESTAMP_WINDOW_MS - 1)).toEqual({ indexes: [0], timestampMs: timestamp * 1000 });
    expect(at(SLACK_TIMESTAMP_WINDOW_MS)).toEqual({ refusal: 'stale_timestamp' });
    expect(at(-SLACK_TIMESTAMP_WINDOW_MS)).toEqual({ refusal: 'stale_timestamp' });
  });
});

describe('deciding from Slack: off without a signing secret', () => {
  it('answers 404 at /integrations/slack/actions', async () => {
    const server = await startTestServer();
    cleanups.push(() => server.close());
    const res = await postAction(server.url, signedAction(buttonClick(APPROVE, 'r1', { user: 'U0BOB', team: TEAM }), { secret: SECRET }));
    expect(res.status).toBe(404);
  });
});
