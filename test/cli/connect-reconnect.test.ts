import { LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { describe, expect, it } from 'vitest';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { fixtureServer, startBroker } from '../support/broker-fixture.js';
import { bridgeClient } from '../support/bridge-client.js';

const EDGE_TOOLS = ['crash', 'say', 'subscriptions', 'log-every-level'];
const EDGE = {
  roles: [{ name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: EDGE_TOOLS, resources: ['*'], maxDurationSeconds: 600, autoApprove: true }] }],
  servers: [fixtureServer('everything', 'edge-upstream')],
};

const REFERENCE_TOOLS = ['echo', 'toggle-subscriber-updates'];
function referenceRoles() {
  return [{ name: 'engineer', members: { groups: ['engineering'] }, request: [{ server: 'everything', tools: REFERENCE_TOOLS, resources: ['*'], maxDurationSeconds: 600, autoApprove: true }] }];
}

async function withBroker(overrides: Record<string, unknown>, tools: string[], run: (fx: BrokerFixture, token: string) => Promise<void>): Promise<void> {
  const fx = await startBroker({ overrides });
  try {
    await fx.grant(tools, 600);
    await run(fx, await fx.token());
  } finally {
    await fx.close();
  }
}

const text = (result: CallToolResult | Record<string, unknown>) => ((result as CallToolResult).content[0] as { text: string }).text;

describe('portcullis connect reconnects when the broker ends the session', () => {
  it('after an idle close (1000), the next call opens a new session and is answered', async () => {
    await withBroker({ roles: referenceRoles(), broker: { idleTimeoutSeconds: 2 } }, REFERENCE_TOOLS, async (fx, token) => {
      const { client, transport, stderr } = bridgeClient(['everything', '--broker', fx.server.url], { PORTCULLIS_TOKEN: token });
      await client.connect(transport);
      await expect.poll(stderr).toContain("the broker closed the session (1000 idle timeout); a new one opens on the client's next message");
      expect(text(await client.callTool({ name: 'echo', arguments: { message: 'after idle' } }))).toContain('after idle');
      await client.close();
    });
  });

  it('after an upstream crash (1011), with the subscriptions still live and the log level as set', async () => {
    await withBroker(EDGE, EDGE_TOOLS, async (fx, token) => {
      const { client, transport, stderr } = bridgeClient(['everything', '--broker', fx.server.url], { PORTCULLIS_TOKEN: token });
      await client.connect(transport);
      const levels: string[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void levels.push(n.params.level));
      await client.subscribeResource({ uri: 'edge://a' });
      await client.subscribeResource({ uri: 'edge://b' });
      await client.unsubscribeResource({ uri: 'edge://b' });
      await client.setLoggingLevel('error');

      await expect(client.callTool({ name: 'crash', arguments: {} })).rejects.toBeTruthy();
      await expect.poll(stderr).toContain('connection closed (1011');
      expect(JSON.parse(text(await client.callTool({ name: 'subscriptions', arguments: {} })))).toEqual(['edge://a']);
      await client.callTool({ name: 'log-every-level', arguments: {} });
      await expect.poll(() => levels).toEqual(['error', 'critical', 'alert', 'emergency']);
      await client.close();
    });
  });

  it('after a frame over broker.maxFrameBytes (1009), the reference server still sends updates for the subscription', async () => {
    await withBroker({ roles: referenceRoles(), broker: { maxFrameBytes: 8192 } }, REFERENCE_TOOLS, async (fx, token) => {
      const { client, transport, stderr } = bridgeClient(['everything', '--broker', fx.server.url], { PORTCULLIS_TOKEN: token });
      await client.connect(transport);
      const updated: string[] = [];
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
      const uri = 'demo://resource/static/document/architecture.md';
      await client.subscribeResource({ uri });

      await expect(client.callTool({ name: 'echo', arguments: { message: 'x'.repeat(20_000) } })).rejects.toBeTruthy();
      await expect.poll(stderr).toContain('connection closed (1009');
      // The reference server sends an update for each subscribed URI at once when updates are switched on.
      await client.callTool({ name: 'toggle-subscriber-updates', arguments: {} });
      await expect.poll(() => updated).toContain(uri);
      await client.close();
    });
  });

  it('answers a request sent while the broker is gone with an error after --reconnect-timeout, and stays up', async () => {
    const fx = await startBroker({ overrides: { roles: referenceRoles() } });
    await fx.grant(REFERENCE_TOOLS, 600);
    const { client, transport, stderr } = bridgeClient(['everything', '--broker', fx.server.url, '--reconnect-timeout', '1s'], { PORTCULLIS_TOKEN: await fx.token() });
    await client.connect(transport);
    await fx.close();
    await expect.poll(stderr).toContain('connection closed (1001 broker shutting down)');
    await expect(client.callTool({ name: 'echo', arguments: { message: 'nobody home' } })).rejects.toThrow(/no connection to the broker within 1 s \(.*\); still trying/);
    await expect(client.ping()).rejects.toThrow(/no connection to the broker within 1 s/);
    await client.close();
  });
});
