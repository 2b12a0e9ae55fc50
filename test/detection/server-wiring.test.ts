import { afterEach, describe, expect, it } from 'vitest';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { raisedInLog } from '../support/detection.js';
import { ManualClock } from '../support/manual-clock.js';
import { startTestServer, testConfig } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

const ALICE = 'alice@example.com';
const DAY = 86_400_000;

const refusedCall = (stores: Stores, n: number) =>
  stores.audit.append({ type: 'mcp.request', outcome: 'DENIED', actor: ALICE, server: 'everything', tool: 'delete_file', sessionId: 's-1', data: { method: 'tools/call', id: n, params: { name: 'delete_file' }, reason: 'tool_not_granted' }, bounded: ['params'] });

describe('the server with detection on', () => {
  let server: TestServer | undefined;
  afterEach(async () => {
    await server?.close();
  });

  it('follows its audit log with the configured rules and records what they find as anomalies', async () => {
    const config = testConfig({ detection: { warmupDays: 1, warmupEvents: 1, rules: { probing: { minDenials: 3 } } } });
    const clock = new ManualClock();
    const stores = await createEmbeddedStores({ dataDir: config.store.dataDir, clock });
    await refusedCall(stores, 0);
    clock.advance(DAY);
    server = await startTestServer({ config, stores, clock });
    const refused = [await refusedCall(stores, 1), await refusedCall(stores, 2), await refusedCall(stores, 3)];

    await expect.poll(async () => (await stores.anomalies.list({ limit: 10 })).map(({ record }) => [record.rule, record.user])).toEqual([['probing', ALICE]]);
    const [listed] = await stores.anomalies.list({ limit: 1 });
    expect(listed!.record.eventIds).toEqual(refused.map((e) => e.id));
    expect((await raisedInLog(stores.audit)).get(listed!.record.id)).toEqual({ detected: 1, responded: 0 });
  });
});
