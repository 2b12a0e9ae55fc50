import type { AuditService } from '../audit/audit-service.js';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../errors.js';
import { requireScope } from '../identity/api-tokens.js';
import type { Principal } from '../identity/principal.js';
import { listedPage } from '../stores/listed-page.js';
import type { Page } from '../stores/listed-page.js';
import type { DeliveryStatus, NotificationStore, OutboxEntry } from '../stores/types.js';

const DAY_MS = 86_400_000;

export interface NotificationServiceDeps {
  store: NotificationStore;
  audit: AuditLog;
  auditService: Pick<AuditService, 'readsAll'>;
  clock: Clock;
  /** The configured sinks' names, in config order. */
  sinks: readonly string[];
  /** Tells the running dispatcher a delivery is due now (absent when no dispatcher runs). */
  wake: () => void;
  /** How long a requeued delivery is kept while pending (the dispatcher's keepUndeliveredMs). */
  keepUndeliveredMs?: number;
}

export interface SinkSummary {
  name: string;
  dead: number;
  pending: number;
}

/** The outbox as the API shows it: auditors list deliveries, and requeue a dead letter (audited). */
export class NotificationService {
  constructor(private readonly deps: NotificationServiceDeps) {}

  /** Newest first; the cursor is the delivery's id. */
  async list(caller: Principal, filter: { status?: DeliveryStatus | null; sink?: string | null }, options: { first?: number | null; after?: string | null }): Promise<Page<OutboxEntry>> {
    this.requireAuditor(caller);
    const newestFirst = (await this.deps.store.entries()).reverse();
    return listedPage(
      async (after, limit) => {
        const start = after === undefined ? 0 : newestFirst.findIndex((entry) => entry.id === after) + 1;
        if (after !== undefined && start === 0) throw new InvalidInputError('unknown cursor (the delivery is no longer kept)', 'after');
        return newestFirst.slice(start, start + limit).map((record) => ({ cursor: record.id, record }));
      },
      (entry) => (filter.status == null || entry.status === filter.status) && (filter.sink == null || entry.sink === filter.sink),
      options,
    );
  }

  /** Each sink's dead letters and pending deliveries: the configured sinks, then any other that still has kept entries (its config since removed). */
  async sinks(caller: Principal): Promise<SinkSummary[]> {
    this.requireAuditor(caller);
    const summaries = new Map<string, SinkSummary>(this.deps.sinks.map((name) => [name, { name, dead: 0, pending: 0 }]));
    for (const entry of await this.deps.store.entries()) {
      let summary = summaries.get(entry.sink);
      if (summary === undefined) summaries.set(entry.sink, (summary = { name: entry.sink, dead: 0, pending: 0 }));
      if (entry.status === 'DEAD') summary.dead++;
      else if (entry.status === 'PENDING') summary.pending++;
    }
    return [...summaries.values()];
  }

  /** Requeues a dead letter: tried again at once, with a fresh count of attempts, under the same id. Audited as notification.retried. */
  async retry(caller: Principal, id: string): Promise<OutboxEntry> {
    this.requireAuditor(caller);
    requireScope(caller, 'api');
    const entry = await this.deps.store.get(id);
    if (entry === null) throw new NotFoundError('notification delivery', 'id');
    if (entry.status !== 'DEAD') throw new InvalidInputError(`only a dead letter can be retried; this delivery is ${entry.status.toLowerCase()}`, 'id');
    const now = this.deps.clock.now();
    const next: OutboxEntry = { ...entry, status: 'PENDING', attempts: 0, dueAt: now, claimedBy: null, claimedUntil: 0, updatedAt: now, version: entry.version + 1 };
    await this.deps.audit.append({ type: 'notification.retried', outcome: 'SUCCESS', actor: caller.user.email, server: entry.event.request?.server ?? null, data: { deliveryId: entry.id, sink: entry.sink, eventId: entry.event.id, attempts: entry.attempts, lastError: entry.lastError } });
    if (!(await this.deps.store.update(next, now + (this.deps.keepUndeliveredMs ?? 30 * DAY_MS)))) throw new InvalidInputError('the delivery changed meanwhile; reload it', 'id');
    this.deps.wake();
    return next;
  }

  private requireAuditor(caller: Principal): void {
    if (!this.deps.auditService.readsAll(caller)) throw new ForbiddenError('only auditors (with the audit:read scope) see notification deliveries');
  }
}
