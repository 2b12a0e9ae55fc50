import { afterEach, describe, expect, it, vi } from 'vitest';
import { systemClock } from '../../server/clock.js';
import type { Stores } from '../../server/stores/types.js';
import { BROKER_POLICY } from '../support/broker-fixture.js';
import { describeWithRedis, redisStoresForTest } from '../support/redis.js';
import { startSmtpReceiver } from '../support/smtp-receiver.js';
import { configTrusting, createTestIdp, signIn } from '../support/test-idp.js';
import { postGraphQL, startTestServer } from '../support/test-server.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * Engineers request on `everything`; the sre group reviews there, but only as asserted by
 * `corp` (members.idps); security@example.com reviews by name. Two IdPs sign people in.
 */
function suite(stores: () => Promise<Stores | undefined>) {
  it('the email reaches the group members who signed in, not one of another IdP, nor the requester', async () => {
    const smtp = await startSmtpReceiver();
    cleanups.push(() => smtp.close());
    const corp = await createTestIdp('corp');
    const partner = await createTestIdp('partner');
    const config = configTrusting([corp, partner], {
      identityProviders: [
        { ...corp.config, emailDomains: ['example.com'] },
        { ...partner.config, emailDomains: ['partner.example'] },
      ],
      roles: [
        BROKER_POLICY.roles[0],
        { name: 'lead', members: { groups: ['sre'], idps: ['corp'] }, review: [{ server: 'everything', tools: ['*'] }] },
        { name: 'security', members: { emails: ['security@example.com'] }, review: [{ server: 'everything', tools: ['*'] }] },
      ],
      servers: BROKER_POLICY.servers,
      notifications: { sinks: [{ name: 'mail', type: 'email', smtp: { host: '127.0.0.1', port: smtp.port, allowPlaintext: true }, from: 'portcullis@broker.example.com', events: ['access_request.created'] }] },
    });
    const server = await startTestServer({ config, clock: systemClock, stores: await stores() });
    cleanups.push(() => server.close());
    const as = (idp: typeof corp, email: string, groups: string[]) => signIn(server.url, idp, { nameId: email, attributes: { email, groups } });
    // alice is an engineer and in sre: the requester is never told of her own request.
    const alice = await as(corp, 'alice@example.com', ['engineering', 'sre']);
    await as(corp, 'erin@example.com', ['sre']);
    await as(partner, 'mallory@partner.example', ['sre']);
    await as(corp, 'frank@example.com', ['engineering']);
    const created = await postGraphQL(server.url, { query: 'mutation { createAccessRequest(input: { server: "everything", tools: ["get-env"], reason: "r", durationSeconds: 600 }) { id } }' }, { cookie: alice });
    expect(created.body.errors).toBeUndefined();
    await vi.waitFor(() => expect(smtp.mails).toHaveLength(1), { timeout: 15_000 });
    expect(smtp.mails[0]!.to.map((a) => a.toLowerCase()).sort()).toEqual(['erin@example.com', 'security@example.com']);
  });
}

describe('reviewers reached by group (embedded store)', () => suite(async () => undefined));
describeWithRedis('reviewers reached by group (Redis store)', () => suite(() => redisStoresForTest({ clock: systemClock })));
