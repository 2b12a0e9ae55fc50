import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../server/clock.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import type { BrokerFixture } from '../support/broker-fixture.js';
import { answerTo, exchange, fixtureServer, selfServed, startBroker } from '../support/broker-fixture.js';

/**
 * While the broker cannot confirm a session's grants (the store cannot be read; the audit
 * log still can), nothing passes between the client and its servers: not the client's
 * requests (fail-closed.test.ts), and neither a server's requests of the client, the
 * client's answers to them, nor the client's notifications. Each server is told why.
 */

type Frame = { id?: unknown; method?: string; params?: Record<string, unknown>; result?: Record<string, unknown>; error?: { code: number; message: string; data?: { reason?: string } } };

const SERVER = fixtureServer('asking', 'asking-upstream');
const SAMPLE = { messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }], maxTokens: 10 };

describe('a session whose grants cannot be confirmed', () => {
  let fx: BrokerFixture;
  let stores: Stores;
  let token: string;

  beforeAll(async () => {
    stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-unconfirmed-')), clock: systemClock });
    fx = await startBroker({
      stores,
      overrides: {
        // Sessions re-read their grants every second: an outage is noticed soon.
        broker: { revalidateIntervalSeconds: 1 },
        ...selfServed([SERVER]),
      },
    });
    token = await fx.token();
    await fx.grant(['*'], 600, 'asking');
  });
  afterAll(() => fx.close());

  it("relays no server request, client answer or client notification, and tells the server", async () => {
    const ws = await fx.raw(token, 'asking');
    await exchange(ws, JSON.stringify({ jsonrpc: '2.0', id: 'init', method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { sampling: {}, roots: {} }, clientInfo: { name: 'raw', version: '1' } } }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    const frames: Frame[] = [];
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      frames.push(frame);
      // A roots request that gets through is answered, so the call below ends either way.
      if (frame.method === 'roots/list') ws.send(JSON.stringify({ jsonrpc: '2.0', id: frame.id, result: { roots: [] } }));
    });

    // The server asks the client to sample, and once answered asks for its roots.
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 'ask', method: 'tools/call', params: { name: 'ask', arguments: { requests: [{ method: 'sampling/createMessage', params: SAMPLE }, { method: 'roots/list' }] } } }));
    await expect.poll(() => frames.find((f) => f.method === 'sampling/createMessage')).toBeDefined();
    const sampling = frames.find((f) => f.method === 'sampling/createMessage')!;

    // The store goes away for grant reads; a revalidation finds it so.
    const getGrant = stores.access.getGrant.bind(stores.access);
    stores.access.getGrant = () => Promise.reject(new Error('store unreachable'));
    try {
      let pings = 0;
      const ping = async () => ((await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: `ping-${++pings}`, method: 'ping' }))) as Frame).error?.message ?? 'answered';
      await expect.poll(ping, { timeout: 10_000 }).toContain('cannot confirm your grants');

      ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }));
      ws.send(JSON.stringify({ jsonrpc: '2.0', id: sampling.id, result: { role: 'assistant', content: { type: 'text', text: 'sampled' }, model: 'm' } }));
      await expect.poll(() => frames.find((f) => f.id === 'ask'), { timeout: 10_000 }).toBeDefined();
    } finally {
      stores.access.getGrant = getGrant;
    }

    const unavailable = { error: expect.objectContaining({ code: -32603, data: { reason: 'broker_unavailable' } }) };
    const outcomes = JSON.parse((frames.find((f) => f.id === 'ask')!.result!.content as { text: string }[])[0]!.text) as unknown;
    expect(outcomes).toEqual([unavailable, unavailable]);
    expect(frames.filter((f) => f.method === 'roots/list')).toEqual([]);

    // Back: the server never heard of the client's roots changing.
    const received = (await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 'received', method: 'tools/call', params: { name: 'notifications-received', arguments: {} } }))) as Frame;
    expect(JSON.parse((received.result!.content as { text: string }[])[0]!.text)).toEqual(['notifications/initialized']);

    const refused = (await stores.audit.read({ limit: 10_000 })).filter((e) => e.outcome === 'DENIED' && e.data.reason === 'broker_unavailable');
    expect(refused.map((e) => [e.type, e.data.direction ?? e.data.method])).toEqual(
      expect.arrayContaining([
        ['mcp.server_request', 'request'],
        ['mcp.server_request', 'answer'],
        ['mcp.notification', 'notifications/roots/list_changed'],
      ]),
    );
    ws.close();
  });
});
