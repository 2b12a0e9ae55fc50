import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../server/audit/types.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { startDetector } from '../../server/detection/detector.js';
import { createRules } from '../../server/detection/rules/index.js';
import type { AnomalyRaiser } from '../../server/detection/types.js';
import { createLogger, logScrubber } from '../../server/log.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { AccessStore } from '../../server/stores/types.js';
import { ManualClock } from '../../test/support/manual-clock.js';

/** Raises nothing: what is measured is reading and judging, not the anomaly's own audit append. */
const quietRaiser: AnomalyRaiser = { isSuppressed: async () => false, raise: async () => {} };

/**
 * The detector's CPU per event on a workload's own log, alone in the process: the events are
 * appended again to a fresh embedded store (each at its own time), then one detector with
 * the configured rules reads it from the start, as an instance taking over would, measured
 * with process.cpuUsage (log reading, rules and state commits included). Live, the detector
 * shares its process with the broker and its clients, whose work (and garbage) no per-event
 * timer can tell from its own. Grants, for the roles, are read from the run's own store.
 */
export async function catchUpCpuPerEvent(log: readonly AuditEvent[], access: Pick<AccessStore, 'getGrant'>, config: PortcullisConfig): Promise<number> {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-catch-up-'));
  const clock = new ManualClock(Date.parse(log[0]?.time ?? new Date().toISOString()));
  const stores = await createEmbeddedStores({ dataDir, clock });
  try {
    const events = log.filter((e) => !e.type.startsWith('anomaly.'));
    for (const { type, outcome, actor, server, tool, sessionId, data, time } of events) {
      clock.advance(Math.max(0, Date.parse(time) - clock.now()));
      await stores.audit.append({ type, outcome, actor, server, tool, sessionId, data });
    }
    const logger = createLogger({ level: 'warn', scrubber: logScrubber() });
    const before = process.cpuUsage();
    const detector = startDetector({ config, audit: stores.audit, state: stores.detector, access, rules: createRules(config.detection), raiser: quietRaiser, clock, logger });
    while (detector.stats.events < events.length) await new Promise((resolve) => setTimeout(resolve, 20));
    const cpu = process.cpuUsage(before);
    await detector.stop();
    return (cpu.user + cpu.system) / events.length;
  } finally {
    await stores.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
