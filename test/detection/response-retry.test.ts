import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessEvents } from '../../server/access/access-events.js';
import type { GrantRecord } from '../../server/access/types.js';
import type { AuditEvent, AuditEventInput } from '../../server/audit/types.js';
import { AnomalyRecorder } from '../../server/detection/anomalies.js';
import { startDetector } from '../../server/detection/detector.js';
import type { Detector } from '../../server/detection/detector.js';
import { raisedAfter } from '../../server/detection/raised-before.js';
import { StoreUnavailableError } from '../../server/errors.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { appendCall, EveryFifthCall, FAST_DETECTOR_TIMING } from '../support/detection.js';
import { captureLogs } from '../support/log-capture.js';
import { ManualClock } from '../support/manual-clock.js';
import { testConfig } from '../support/test-server.js';

const DAY = 86_400_000;
const ALICE = 'alice@example.com';
const config = testConfig({ detection: { warmupDays: 1, warmupEvents: 1 } });

const running: Detector[] = [];
const open: Stores[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((d) => d.stop()));
  await Promise.all(open.splice(0).map((s) => s.close().catch(() => {})));
});

async function embedded(clock: ManualClock): Promise<Stores> {
  const stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-retry-')), clock });
  open.push(stores);
  return stores;
}

/** Grants as the access service reads them, unavailable for the first `outages` reads. */
function flakyAccess(outages: number) {
  const revoked: string[] = [];
  let failing = outages;
  return {
    revoked,
    activeGrantsOf: async (): Promise<GrantRecord[]> => {
      if (failing-- > 0) throw new StoreUnavailableError('grant listing');
      return [{ id: 'g-1' } as GrantRecord];
    },
    revokeForAnomaly: async (id: string): Promise<GrantRecord> => {
      revoked.push(id);
      return { id } as GrantRecord;
    },
  };
}

async function responsesIn(stores: Stores): Promise<AuditEvent[]> {
  return (await stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'anomaly.response');
}

describe('a response the store was unavailable for', () => {
  it('is taken once the store is back: the detector retries the event instead of auditing an ERROR and moving on', async () => {
    const clock = new ManualClock();
    const stores = await embedded(clock);
    const access = flakyAccess(2);
    const raiser = new AnomalyRecorder({
      store: stores.anomalies,
      audit: stores.audit,
      clock,
      logger: captureLogs({ level: 'silent' }).logger,
      events: new AccessEvents(stores.events),
      access,
      config: { responses: [{ rule: 'breadth', minSeverity: 'low', action: 'revoke_grant' }], keepAnomalies: 100 },
    });
    await appendCall(stores.audit, ALICE, 1);
    clock.advance(DAY);
    for (let n = 2; n <= 5; n++) await appendCall(stores.audit, ALICE, n);
    const detector = startDetector({ config, audit: stores.audit, state: stores.detector, access: stores.access, rules: [new EveryFifthCall()], raiser, clock, leaseClock: clock, logger: captureLogs({ level: 'silent' }).logger, timing: FAST_DETECTOR_TIMING });
    running.push(detector);
    await expect.poll(async () => (await responsesIn(stores)).length).toBe(1);
    await detector.stop();
    const [response] = await responsesIn(stores);
    expect(response).toMatchObject({ outcome: 'SUCCESS', data: { action: 'revoke_grant', detail: 'grant g-1 revoked' } });
    expect(access.revoked).toEqual(['g-1']);
    expect((await stores.audit.read({ limit: 1000 })).filter((e) => e.type === 'anomaly.detected')).toHaveLength(1);
  });
});

describe('what the log says was done (raisedAfter)', () => {
  const anomaly = (type: 'anomaly.detected' | 'anomaly.response', outcome: 'SUCCESS' | 'ERROR', anomalyId: string): AuditEventInput => ({ type, outcome, actor: null, server: null, tool: null, sessionId: null, data: { anomalyId } });

  it('counts a response as taken only when it succeeded, whatever failed before or after it', async () => {
    const stores = await embedded(new ManualClock());
    for (const id of ['failed', 'retried', 'done']) await stores.audit.append(anomaly('anomaly.detected', 'SUCCESS', id));
    await stores.audit.append(anomaly('anomaly.response', 'ERROR', 'failed'));
    await stores.audit.append(anomaly('anomaly.response', 'ERROR', 'retried'));
    await stores.audit.append(anomaly('anomaly.response', 'SUCCESS', 'retried'));
    await stores.audit.append(anomaly('anomaly.response', 'SUCCESS', 'done'));
    await stores.audit.append(anomaly('anomaly.response', 'ERROR', 'done'));
    const raised = await raisedAfter(stores.audit, null, new AbortController().signal);
    expect(Object.fromEntries([...raised].map(([id, r]) => [id, r.responded]))).toEqual({ failed: false, retried: true, done: true });
  });
});
