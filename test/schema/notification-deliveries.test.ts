import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { accessConfig, PEOPLE } from '../support/access-fixture.js';
import { describeOnEachStore } from '../support/each-store.js';
import type { StartServer } from '../support/each-store.js';
import { postGraphQL, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, signIn, TEST_PUBLIC_URL } from '../support/test-idp.js';
import { startWebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'api-test-webhook-secret-0123456789abcdef';
const LIST = `query($status: NotificationDeliveryStatus, $sink: String, $first: Int, $after: String) { notificationDeliveries(status: $status, sink: $sink, first: $first, after: $after) { items { id sink eventType eventId status attempts lastError request { requester server } anomaly { id } } pageInfo { endCursor hasNextPage } } }`;
const SINKS = `{ notificationSinks { name dead pending } }`;
const RETRY = `mutation($id: ID!) { retryNotificationDelivery(id: $id) { id status attempts } }`;

interface Delivery {
  id: string;
  status: string;
  attempts: number;
  lastError: string | null;
  eventType: string;
}

describeOnEachStore('notification deliveries over GraphQL', (start: StartServer) => {
  let server: TestServer;
  let hook: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let cookies: Record<keyof typeof PEOPLE, string>;
  const gql = (who: keyof typeof PEOPLE, query: string, variables: Record<string, unknown> = {}) => postGraphQL(server.url, { query, variables }, { cookie: cookies[who] });
  const list = async (variables: Record<string, unknown>) => ((await gql('carol', LIST, variables)).body.data as { notificationDeliveries: { items: Delivery[] } }).notificationDeliveries.items;

  beforeAll(async () => {
    // The first delivery is refused (a dead letter at once), every later one accepted.
    hook = await startWebhookReceiver(SECRET, (n) => (n === 0 ? 400 : 200));
    const idp = await createTestIdp('corp');
    const access = accessConfig();
    server = await start(
      testConfig({
        server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL },
        identityProviders: [idp.config],
        roles: access.roles,
        servers: access.servers,
        notifications: { sinks: [{ name: 'ops', type: 'webhook', url: hook.url, secret: SECRET, events: ['access_request.created'] }] },
      }),
    );
    const entries = await Promise.all(
      Object.entries(PEOPLE).map(async ([name, groups]) => [name, await signIn(server.url, idp, { nameId: `${name}@example.com`, attributes: { email: `${name}@example.com`, groups: [...groups] } })] as const),
    );
    cookies = Object.fromEntries(entries) as Record<keyof typeof PEOPLE, string>;
  });
  afterAll(async () => {
    await server?.close();
    await hook?.close();
  });

  it('a refused delivery is a dead letter an auditor sees, with its request and in its sink\'s count; retried by the mutation (audited), it is delivered under the same id', async () => {
    const created = await gql('alice', `mutation { createAccessRequest(input: { server: "everything", tools: ["*"], reason: "restart", durationSeconds: 600 }) { id } }`);
    expect(created.body.errors).toBeUndefined();
    await vi.waitFor(async () => expect(await list({ status: 'DEAD' })).toHaveLength(1), { timeout: 10_000 });
    const [dead] = await list({ status: 'DEAD', sink: 'ops' });
    expect(dead).toMatchObject({ status: 'DEAD', attempts: 1, lastError: 'HTTP 400', eventType: 'access_request.created', request: { requester: 'alice@example.com', server: 'everything' }, anomaly: null });
    expect((await gql('carol', SINKS)).body.data).toEqual({ notificationSinks: [{ name: 'ops', dead: 1, pending: 0 }] });
    expect(await list({ status: 'DELIVERED' })).toEqual([]);

    expect((await gql('alice', LIST)).body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await gql('alice', RETRY, { id: dead!.id })).body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await gql('alice', SINKS)).body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');

    const retried = await gql('carol', RETRY, { id: dead!.id });
    expect(retried.body.data).toEqual({ retryNotificationDelivery: { id: dead!.id, status: 'PENDING', attempts: 0 } });
    await vi.waitFor(async () => expect(await list({ status: 'DELIVERED' })).toMatchObject([{ id: dead!.id, attempts: 1 }]), { timeout: 10_000 });
    expect(hook.ids()).toEqual([dead!.id, dead!.id]);
    expect((await gql('carol', SINKS)).body.data).toEqual({ notificationSinks: [{ name: 'ops', dead: 0, pending: 0 }] });
    expect(hook.received.every((r) => r.verified)).toBe(true);

    const audited = (await server.stores.audit.readBackward({ limit: 50 })).find((event) => event.type === 'notification.retried');
    expect(audited).toMatchObject({ actor: 'carol@example.com', data: { deliveryId: dead!.id, sink: 'ops', attempts: 1, lastError: 'HTTP 400' } });
    expect((await gql('carol', RETRY, { id: dead!.id })).body.errors?.[0]?.extensions?.code).toBe('INVALID_INPUT');
  });
});
