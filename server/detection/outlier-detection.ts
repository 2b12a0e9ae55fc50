import type { AccessEvents } from '../access/access-events.js';
import type { AccessService } from '../access/access-service.js';
import type { AuditEvent } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Stores } from '../stores/types.js';
import { AnomalyRecorder } from './anomalies.js';
import { startDetector } from './detector.js';
import type { Detector } from './detector.js';
import { createRules } from './rules/index.js';

/** The detector with the configured rules, raising through the anomaly recorder and its responses; null when `detection.enabled` is off. */
export function startOutlierDetection(deps: { config: PortcullisConfig; stores: Stores; clock: Clock; logger: Logger; events: AccessEvents; access: AccessService; metrics: Pick<Metrics, 'detectorLag'> }): Detector | null {
  const { config, stores, clock, logger } = deps;
  if (!config.detection.enabled) return null;
  const raiser = new AnomalyRecorder({ store: stores.anomalies, audit: stores.audit, clock, logger, events: deps.events, access: deps.access, config: config.detection });
  // The lag against real time: the business clock may be a replay's.
  const onEvaluated = (event: AuditEvent) => deps.metrics.detectorLag.observe(Math.max(0, Date.now() - Date.parse(event.time)) / 1000);
  return startDetector({ config, audit: stores.audit, state: stores.detector, access: stores.access, rules: createRules(config.detection), raiser, clock, logger, onEvaluated });
}
