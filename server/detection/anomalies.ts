import { StoreUnavailableError } from '../errors.js';
import { sameEmail } from '../identity/email-key.js';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { Logger } from '../log.js';
import type { AnomalyStore } from '../stores/types.js';
import { chooseResponse, executeResponse } from './responses.js';
import type { ResponderDeps } from './responses.js';
import type { AnomalyRaiser, AnomalyRecord, Detection, DetectionConfig, RaisedBefore, RuleId, Suppression } from './types.js';

/**
 * How long the live suppressions read from the store are trusted: a suppression added (or
 * removed) through the API reaches the detector within this, while a burst of detections
 * costs one store read, not one each.
 */
export const SUPPRESSION_CACHE_MS = 1_000;

/** Attempts to add a response to the record against racing writers (an acknowledgement). */
const RECORD_UPDATE_ATTEMPTS = 3;

export interface AnomalyRaiserDeps extends ResponderDeps {
  store: AnomalyStore;
  audit: AuditLog;
  clock: Clock;
  logger: Logger;
  config: Pick<DetectionConfig, 'responses' | 'keepAnomalies'>;
}

/**
 * Where detections become anomalies (types.ts AnomalyRaiser): audited as `anomaly.detected`
 * in the hash chain (so they are tamper-evident and reach every SIEM), stored for the API,
 * then answered by the configured response, audited as `anomaly.response`.
 *
 * Exactly once across instances and restarts rests on the detector's `before` (read back
 * from the log) and on the store's create-if-absent. A failed audit append is thrown, and so
 * is a response the store was unavailable for (the detector retries the event, and `before`
 * then says what got through: a response succeeded or not yet taken). Any other failed
 * response is audited as ERROR (retried should the event be evaluated again), and a store
 * that cannot take the record is logged: the log, not the store, is the record of truth,
 * and later events must still be judged.
 */
export class AnomalyRecorder implements AnomalyRaiser {
  private cached: { at: number; live: Suppression[] } | undefined;

  constructor(private readonly deps: AnomalyRaiserDeps) {}

  /**
   * From the live suppressions, read at most once per SUPPRESSION_CACHE_MS. Throws when the
   * store cannot be read: the detector retries the event rather than raise (and perhaps
   * respond to) what may be silenced, or drop what may not be.
   */
  async isSuppressed(user: string, rule: RuleId): Promise<boolean> {
    const now = this.deps.clock.now();
    if (!this.cached || now - this.cached.at >= SUPPRESSION_CACHE_MS || now < this.cached.at) {
      this.cached = { at: now, live: await this.deps.store.suppressions(now) };
    }
    // An email is one address whatever its ASCII case (the IdP may assert it otherwise than the auditor typed it), and
    // no more: full Unicode folding made a suppression for \u212Aate@ (KELVIN SIGN) silence kate@, past the self-check.
    return this.cached.live.some((s) => sameEmail(s.user, user) && s.rule === rule && s.expiresAt > now);
  }

  async raise(detection: Detection, before: RaisedBefore): Promise<void> {
    const auditEventId = before.detectedEventId ?? (await this.appendDetected(detection));
    await this.record(detection, auditEventId);
    const action = chooseResponse(this.deps.config.responses, detection);
    if (action === null || before.responded) return;
    let outcome: 'SUCCESS' | 'ERROR' = 'SUCCESS';
    let detail: string;
    try {
      detail = await executeResponse(action, detection, this.deps);
    } catch (error) {
      // Transient: thrown, so the detector retries the event until the response is taken, instead of leaving it undone.
      if (error instanceof StoreUnavailableError) throw error;
      outcome = 'ERROR';
      detail = `${action} failed: ${(error as Error).message}`;
      this.deps.logger.warn({ err: error, anomalyId: detection.id, action }, 'an anomaly response failed');
    }
    await this.deps.audit.append({
      type: 'anomaly.response',
      outcome,
      actor: null,
      server: detection.server,
      tool: null,
      sessionId: detection.sessionId,
      data: { anomalyId: detection.id, rule: detection.rule, severity: detection.severity, user: detection.user, action, detail },
    });
    await this.addResponse(detection.id, { action, outcome, detail });
  }

  /** The actor is null: the broker itself raised it (the user is in `data.user`). */
  private async appendDetected(d: Detection): Promise<string> {
    const event = await this.deps.audit.append({
      type: 'anomaly.detected',
      outcome: 'SUCCESS',
      actor: null,
      server: d.server,
      tool: d.tool,
      sessionId: d.sessionId,
      data: { anomalyId: d.id, rule: d.rule, severity: d.severity, score: d.score, user: d.user, summary: d.summary, observed: d.observed, baseline: d.baseline, eventIds: d.eventIds, grantId: d.grantId },
    });
    return event.id;
  }

  private async record(detection: Detection, auditEventId: string): Promise<void> {
    const record: AnomalyRecord = { ...detection, status: 'open', auditEventId, responses: [], acknowledgedBy: null, acknowledgedAt: null, note: null, version: 1 };
    await this.deps.store.create(record, this.deps.config.keepAnomalies).catch((error: unknown) => this.deps.logger.error({ err: error, anomalyId: detection.id }, 'could not store an anomaly (it is in the audit log)'));
  }

  private async addResponse(id: string, response: AnomalyRecord['responses'][number]): Promise<void> {
    try {
      for (let attempt = 0; attempt < RECORD_UPDATE_ATTEMPTS; attempt++) {
        const current = await this.deps.store.get(id);
        // Trimmed already (or never stored): the audit log has the response.
        if (!current) return;
        if (await this.deps.store.update({ ...current, responses: [...current.responses, response], version: current.version + 1 })) return;
      }
      this.deps.logger.warn({ anomalyId: id }, 'could not add a response to an anomaly record (kept changing): the audit log has it');
    } catch (error) {
      this.deps.logger.error({ err: error, anomalyId: id }, 'could not add a response to an anomaly record (it is in the audit log)');
    }
  }
}
