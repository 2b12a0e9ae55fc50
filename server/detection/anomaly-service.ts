import { randomUUID } from 'node:crypto';
import { byCaller } from '../audit/client-address.js';
import { abortableTail } from '../audit/abortable-tail.js';
import type { AuditService } from '../audit/audit-service.js';
import type { AuditEvent, AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import { AlreadyAcknowledgedError, ForbiddenError, InvalidInputError, NotFoundError, StoreUnavailableError } from '../errors.js';
import { requireScope } from '../identity/api-tokens.js';
import { EMAIL_ADDRESS } from '../identity/email-domains.js';
import { sameEmail } from '../identity/email-key.js';
import type { FreshDeciders } from '../identity/fresh-decider.js';
import type { Principal } from '../identity/principal.js';
import { listedPage } from '../stores/listed-page.js';
import type { Page } from '../stores/listed-page.js';
import type { AnomalyStore } from '../stores/types.js';
import { boundedText } from '../text/bounded-text.js';
import { anomalyFromEvent } from './anomaly-event.js';
import { MAX_FINDING_EVENTS, RULE_IDS, severityRank } from './types.js';
import type { AnomalyRecord, AnomalyStatus, RuleId, Severity, Suppression } from './types.js';

/** Longest a suppression may last: a known cause is silenced for a while, never for good. */
export const MAX_SUPPRESSION_SECONDS = 90 * 86_400;
/** Writes of an acknowledgement against racing writers (the raiser adding a response). */
const UPDATE_ATTEMPTS = 3;

export interface AnomalyFilter {
  status?: AnomalyStatus | null;
  user?: string | null;
  rule?: RuleId | null;
  severityAtLeast?: Severity | null;
}

export interface SuppressInput {
  user: string;
  rule: string;
  durationSeconds: number;
  reason: string;
}

interface AnomalyServiceDeps {
  store: AnomalyStore;
  audit: AuditLog;
  /** Who reads every audit event reads every anomaly; triggering events and the live feed come from it. */
  auditService: Pick<AuditService, 'readsAll' | 'byIds' | 'follow'>;
  clock: Clock;
  /** Who an auditor is now, when their credential outlives sign-ins (identity/fresh-decider.ts); absent: as the credential says. */
  deciders?: Pick<FreshDeciders, 'current'>;
}

/**
 * What the detector raised, for the people who answer it: auditors (a role with
 * `audit: true`, through a credential holding `audit:read`) list, read and follow every
 * anomaly; acknowledging and suppressing also take the `api` scope, so a SIEM's read-only
 * token cannot silence the detector. Nobody else sees any anomaly, not even one about
 * themselves: telling a prober that their probing was noticed teaches them where the
 * threshold is. Every change is audited before it is stored (fail closed).
 */
export class AnomalyService {
  constructor(private readonly deps: AnomalyServiceDeps) {}

  /** Newest first. */
  async list(caller: Principal, filter: AnomalyFilter, options: { first?: number | null; after?: string | null }): Promise<Page<AnomalyRecord>> {
    this.requireAuditor(caller);
    const least = filter.severityAtLeast == null ? 0 : severityRank(filter.severityAtLeast);
    const user = filter.user ?? undefined;
    const status = filter.status ?? undefined;
    return listedPage(
      (after, limit) => this.deps.store.list({ user, status, after, limit }),
      (record) => (filter.rule == null || record.rule === filter.rule) && severityRank(record.severity) >= least,
      options,
    );
  }

  async get(caller: Principal, id: string): Promise<AnomalyRecord> {
    this.requireAuditor(caller);
    const record = await this.deps.store.get(id);
    if (!record) throw new NotFoundError('anomaly', 'id');
    return record;
  }

  /** The audit events that triggered it that the log still holds, oldest first. */
  async triggeringEvents(caller: Principal, record: AnomalyRecord): Promise<AuditEvent[]> {
    this.requireAuditor(caller);
    return this.deps.auditService.byIds(caller, record.eventIds.slice(-MAX_FINDING_EVENTS));
  }

  /** Its `anomaly.detected` event, while the log holds it. */
  async detectedEvent(caller: Principal, record: AnomalyRecord): Promise<AuditEvent | null> {
    this.requireAuditor(caller);
    const [event] = await this.deps.auditService.byIds(caller, [record.auditEventId]);
    return event ?? null;
  }

  async acknowledge(asked: Principal, id: string, noteInput: string | null | undefined): Promise<AnomalyRecord> {
    const caller = await this.actingAuditor(asked);
    const note = noteInput == null ? null : boundedText(noteInput, 'note', false) || null;
    const record = await this.get(caller, id);
    refuseAboutSelf(caller, record.user, 'id');
    if (record.status === 'acknowledged') throw new AlreadyAcknowledgedError(record.acknowledgedBy);
    await this.deps.audit.append(byCaller(caller, {
      type: 'anomaly.acknowledged',
      outcome: 'SUCCESS',
      server: record.server,
      data: { anomalyId: record.id, rule: record.rule, user: record.user, note },
    }));
    // The raiser may be adding a response to the record meanwhile: read again and retry then.
    let current = record;
    for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
      const next: AnomalyRecord = { ...current, status: 'acknowledged', acknowledgedBy: caller.user.email, acknowledgedAt: this.deps.clock.now(), note, version: current.version + 1 };
      if (await this.deps.store.update(next)) return next;
      current = await this.get(caller, id);
      if (current.status === 'acknowledged') throw new AlreadyAcknowledgedError(current.acknowledgedBy);
    }
    throw new StoreUnavailableError('acknowledging an anomaly that kept changing');
  }

  async suppress(asked: Principal, input: SuppressInput): Promise<Suppression> {
    const caller = await this.actingAuditor(asked);
    const user = input.user.trim();
    if (!EMAIL_ADDRESS.test(user)) throw new InvalidInputError('user must be an email address', 'user');
    refuseAboutSelf(caller, user, 'user');
    if (!isRuleId(input.rule)) throw new InvalidInputError(`rule must be one of ${RULE_IDS.join(', ')}`, 'rule');
    if (!Number.isInteger(input.durationSeconds) || input.durationSeconds < 1 || input.durationSeconds > MAX_SUPPRESSION_SECONDS) {
      throw new InvalidInputError(`durationSeconds must be from 1 to ${MAX_SUPPRESSION_SECONDS} (90 days)`, 'durationSeconds');
    }
    const reason = boundedText(input.reason, 'reason', true);
    const now = this.deps.clock.now();
    const suppression: Suppression = { id: `sp_${randomUUID()}`, user, rule: input.rule, reason, createdBy: caller.user.email, createdAt: now, expiresAt: now + input.durationSeconds * 1000 };
    await this.deps.audit.append(byCaller(caller, {
      type: 'anomaly.suppressed',
      outcome: 'SUCCESS',
      data: { suppressionId: suppression.id, user, rule: suppression.rule, reason, expiresAt: new Date(suppression.expiresAt).toISOString() },
    }));
    await this.deps.store.suppress(suppression);
    return suppression;
  }

  /** Live suppressions, soonest to expire first. */
  async suppressions(caller: Principal): Promise<Suppression[]> {
    this.requireAuditor(caller);
    return this.deps.store.suppressions(this.deps.clock.now());
  }

  async unsuppress(asked: Principal, id: string): Promise<Suppression> {
    const caller = await this.actingAuditor(asked);
    const live = (await this.deps.store.suppressions(this.deps.clock.now())).find((s) => s.id === id);
    if (!live) throw new NotFoundError('suppression', 'id');
    await this.deps.audit.append(byCaller(caller, { type: 'anomaly.unsuppressed', outcome: 'SUCCESS', data: { suppressionId: live.id, user: live.user, rule: live.rule } }));
    // Null when it lapsed or was removed meanwhile: it is gone either way, as the event says.
    await this.deps.store.unsuppress(id);
    return live;
  }

  /**
   * Anomalies as the detector raises them, from its `anomaly.detected` events: those after
   * `after` first (no gap, no duplicate), then live ones. Each is the stored record, or what
   * its event says once the store has dropped it (only the newest `keepAnomalies` stay).
   */
  follow(caller: Principal, after: string | null | undefined, signal: AbortSignal): AsyncIterable<AnomalyRecord> {
    this.requireAuditor(caller);
    const { auditService, store } = this.deps;
    return abortableTail(signal, async function* (inner) {
      for await (const event of auditService.follow(caller, { types: ['anomaly.detected'] }, after, inner)) {
        const anomalyId = event.data.anomalyId;
        const stored = typeof anomalyId === 'string' ? await store.get(anomalyId) : null;
        yield stored ?? anomalyFromEvent(event);
      }
    });
  }

  private requireAuditor(caller: Principal): void {
    if (!this.deps.auditService.readsAll(caller)) throw new ForbiddenError('only auditors (with the audit:read scope) see anomalies');
  }

  /** The auditor deciding, as they stand now; refused unless they may. */
  private async actingAuditor(asked: Principal): Promise<Principal> {
    this.requireAuditor(asked);
    requireScope(asked, 'api');
    const caller = this.deps.deciders ? await this.deps.deciders.current(asked) : asked;
    this.requireAuditor(caller);
    return caller;
  }
}

/**
 * An auditor who also holds grants answers for their own activity no more than a requester
 * reviews their own request: acknowledging an anomaly about themselves, or silencing a rule
 * for themselves (which also stops its responses: revoking the grant, ending the session),
 * is left to another auditor. Removing a suppression only lets detection back in: allowed.
 */
function refuseAboutSelf(caller: Principal, user: string, field: string): void {
  if (sameEmail(user, caller.user.email)) throw new ForbiddenError('nobody acknowledges or suppresses anomalies about themselves: another auditor does', field);
}

function isRuleId(value: string): value is RuleId {
  return (RULE_IDS as readonly string[]).includes(value);
}
