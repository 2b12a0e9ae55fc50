import { randomUUID } from 'node:crypto';
import type { AuditEventInput, AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import { AccessDeniedError, InvalidInputError, NotFoundError } from '../errors.js';
import type { Principal } from '../identity/principal.js';
import type { AccessStore, Listed } from '../stores/types.js';
import type { AccessEvents } from './access-events.js';
import type { AccessPolicy } from './access-policy.js';
import type { AccessRequestRecord, AccessRequestStatus, GrantRecord, ReviewDecision } from './types.js';
import { grantStatus, requestStatus } from './types.js';

const MAX_REASON = 1000;
const DEFAULT_PAGE = 20;
const MAX_PAGE = 100;
/** Records looked at per listing call before answering with what was found (visibility filters). */
const MAX_SCAN = 2000;

export interface Page<T> {
  items: T[];
  endCursor: string | null;
  hasNextPage: boolean;
}

export interface AccessServiceDeps {
  store: AccessStore;
  audit: AuditLog;
  clock: Clock;
  policy: AccessPolicy;
  events: AccessEvents;
  config: Pick<PortcullisConfig, 'approvals'>;
}

/**
 * Just-in-time access: requests, reviews, grants, revocation and expiry. Every state
 * change runs under the record's lock, is audited before it is written, and is written
 * compare-and-set; only then are other instances told. A refused operation stores nothing.
 */
export class AccessService {
  constructor(private readonly deps: AccessServiceDeps) {}

  async createRequest(caller: Principal, input: { server: string; tools?: readonly string[] | null; reason: string; durationSeconds: number }): Promise<AccessRequestRecord> {
    const reason = boundedText(input.reason, 'reason', true);
    const plan = this.deps.policy.planRequest(caller, input);
    const now = this.deps.clock.now();
    let request: AccessRequestRecord = {
      id: randomUUID(),
      requester: caller.user,
      server: input.server,
      tools: plan.tools,
      denyTools: plan.denyTools,
      reason,
      durationSeconds: input.durationSeconds,
      status: 'PENDING',
      reviews: [],
      grantId: null,
      createdAt: now,
      expiresAt: now + this.deps.config.approvals.requestTtlSeconds * 1000,
      decidedAt: null,
      version: 1,
    };
    const audits: AuditEventInput[] = [
      this.requestEvent('access_request.created', caller, request, { tools: request.tools, durationSeconds: request.durationSeconds, reason, autoApprove: plan.autoApprove }),
    ];
    let grant: GrantRecord | undefined;
    if (plan.autoApprove) {
      grant = this.grantFor(request, request.durationSeconds, now);
      request = { ...request, status: 'APPROVED', grantId: grant.id, decidedAt: now };
      audits.push(this.grantIssuedEvent(caller, grant));
    }
    for (const event of audits) await this.deps.audit.append(event);
    await this.deps.store.createRequest(request, grant);
    this.deps.events.requestChanged(request);
    return request;
  }

  async reviewRequest(
    caller: Principal,
    input: { requestId: string; decision: ReviewDecision; reason?: string | null; durationSeconds?: number | null },
  ): Promise<AccessRequestRecord> {
    const reason = input.reason == null ? null : boundedText(input.reason, 'reason', false);
    const updated = await this.deps.store.withLock(`request:${input.requestId}`, async () => {
      const request = await this.visibleRequest(caller, input.requestId);
      if (request.requester.id === caller.user.id) throw new AccessDeniedError('SELF_REVIEW', 'nobody reviews their own request');
      if (!this.deps.policy.mayReview(caller, request)) throw new NotFoundError('access request');
      const now = this.deps.clock.now();
      this.requirePending(request, now);
      if (request.reviews.some((r) => r.reviewer.id === caller.user.id)) throw new AccessDeniedError('ALREADY_REVIEWED', 'you have already reviewed this request');
      const duration = input.durationSeconds ?? null;
      if (duration !== null) {
        if (input.decision !== 'APPROVE') throw new InvalidInputError('durationSeconds goes with APPROVE only');
        if (!Number.isInteger(duration) || duration <= 0 || duration > request.durationSeconds) {
          throw new InvalidInputError(`durationSeconds may shorten the requested ${request.durationSeconds} s, never lengthen it`);
        }
      }
      const reviews = [...request.reviews, { reviewer: caller.user, decision: input.decision, reason, durationSeconds: duration, createdAt: now }];
      const approvals = reviews.filter((r) => r.decision === 'APPROVE');
      const status: AccessRequestStatus =
        input.decision === 'DENY' ? 'DENIED' : approvals.length >= this.deps.config.approvals.requiredApprovals ? 'APPROVED' : 'PENDING';
      const grant =
        status === 'APPROVED'
          ? this.grantFor(request, Math.min(request.durationSeconds, ...approvals.flatMap((r) => r.durationSeconds ?? [])), now)
          : undefined;
      const next: AccessRequestRecord = {
        ...request,
        reviews,
        status,
        grantId: grant?.id ?? null,
        decidedAt: status === 'PENDING' ? null : now,
        version: request.version + 1,
      };
      await this.deps.audit.append(this.requestEvent('access_request.reviewed', caller, next, { decision: input.decision, reason, durationSeconds: duration, status }));
      if (grant) await this.deps.audit.append(this.grantIssuedEvent(caller, grant));
      if (!(await this.deps.store.updateRequest(next, grant))) throw new AccessDeniedError('REQUEST_NOT_PENDING', 'the request changed meanwhile; reload it');
      return next;
    });
    this.deps.events.requestChanged(updated);
    return updated;
  }

  async cancelRequest(caller: Principal, id: string): Promise<AccessRequestRecord> {
    const updated = await this.deps.store.withLock(`request:${id}`, async () => {
      const request = await this.deps.store.getRequest(id);
      if (!request || request.requester.id !== caller.user.id) throw new NotFoundError('access request');
      const now = this.deps.clock.now();
      this.requirePending(request, now);
      const next: AccessRequestRecord = { ...request, status: 'CANCELLED', decidedAt: now, version: request.version + 1 };
      await this.deps.audit.append(this.requestEvent('access_request.cancelled', caller, next, {}));
      if (!(await this.deps.store.updateRequest(next))) throw new AccessDeniedError('REQUEST_NOT_PENDING', 'the request changed meanwhile; reload it');
      return next;
    });
    this.deps.events.requestChanged(updated);
    return updated;
  }

  /** The request if the caller may see it (their own, or one they may review); NOT_FOUND otherwise, as for unknown ids. */
  async getRequest(caller: Principal, id: string): Promise<AccessRequestRecord> {
    return this.visibleRequest(caller, id);
  }

  canSeeRequest(caller: Principal, request: AccessRequestRecord): boolean {
    return request.requester.id === caller.user.id || this.deps.policy.mayReview(caller, request);
  }

  async listRequests(
    caller: Principal,
    options: { status?: AccessRequestStatus | null; mine?: boolean | null; first?: number | null; after?: string | null },
  ): Promise<Page<AccessRequestRecord>> {
    const now = this.deps.clock.now();
    return this.page(
      (after, limit) => this.deps.store.listRequests({ requesterId: options.mine ? caller.user.id : undefined, after, limit }),
      (r) => this.canSeeRequest(caller, r) && (options.status == null || requestStatus(r, now) === options.status),
      options,
    );
  }

  /** A grant its owner, an auditor, or someone who may review its request can see. */
  async getGrant(caller: Principal, id: string): Promise<GrantRecord> {
    const grant = await this.deps.store.getGrant(id);
    if (!grant || !this.canSeeGrant(caller, grant)) throw new NotFoundError('grant');
    return grant;
  }

  async listGrants(caller: Principal, options: { active?: boolean | null; first?: number | null; after?: string | null }): Promise<Page<GrantRecord>> {
    const auditor = this.deps.policy.isAuditor(caller);
    const now = this.deps.clock.now();
    return this.page(
      (after, limit) => this.deps.store.listGrants({ userId: auditor ? undefined : caller.user.id, after, limit }),
      (g) => options.active == null || (grantStatus(g, now) === 'ACTIVE') === options.active,
      options,
    );
  }

  async revokeGrant(caller: Principal, id: string, reasonInput: string): Promise<GrantRecord> {
    const reason = boundedText(reasonInput, 'reason', true);
    const revoked = await this.deps.store.withLock(`grant:${id}`, async () => {
      const grant = await this.deps.store.getGrant(id);
      if (!grant || !this.mayRevoke(caller, grant)) throw new NotFoundError('grant');
      const now = this.deps.clock.now();
      const status = grantStatus(grant, now);
      if (status !== 'ACTIVE') throw new AccessDeniedError('GRANT_NOT_ACTIVE', `the grant is already ${status.toLowerCase()}`);
      const next: GrantRecord = { ...grant, revokedAt: now, revokedBy: caller.user.email, revokeReason: reason, version: grant.version + 1 };
      await this.deps.audit.append({
        type: 'grant.revoked',
        outcome: 'SUCCESS',
        actor: caller.user.email,
        server: grant.server,
        data: { grantId: grant.id, requestId: grant.requestId, user: grant.user.email, reason },
      });
      if (!(await this.deps.store.updateGrant(next))) throw new AccessDeniedError('GRANT_NOT_ACTIVE', 'the grant changed meanwhile; reload it');
      return next;
    });
    this.deps.events.grantEnded(revoked, 'REVOKED', reason);
    return revoked;
  }

  /**
   * Records what time alone decided: PENDING requests past their TTL become EXPIRED, and
   * grants past expiresAt get their `grant.expired` event. Run periodically (any instance:
   * the locks make each transition happen once) and safe to run at any moment.
   */
  async expireDue(limit = 100): Promise<{ requests: number; grants: number }> {
    const now = this.deps.clock.now();
    let requests = 0;
    for (const id of await this.deps.store.dueRequests(now, limit)) {
      const expired = await this.deps.store.withLock(`request:${id}`, async () => {
        const request = await this.deps.store.getRequest(id);
        if (!request || request.status !== 'PENDING' || request.expiresAt > now) return null;
        const next: AccessRequestRecord = { ...request, status: 'EXPIRED', decidedAt: now, version: request.version + 1 };
        await this.deps.audit.append({ ...this.requestEvent('access_request.expired', null, next, {}), actor: null });
        return (await this.deps.store.updateRequest(next)) ? next : null;
      });
      if (expired) {
        requests++;
        this.deps.events.requestChanged(expired);
      }
    }
    let grants = 0;
    for (const id of await this.deps.store.dueGrants(now, limit)) {
      const expired = await this.deps.store.withLock(`grant:${id}`, async () => {
        const grant = await this.deps.store.getGrant(id);
        if (!grant || grant.revokedAt !== null || grant.expiredAt !== null || grant.expiresAt > now) return null;
        const next: GrantRecord = { ...grant, expiredAt: now, version: grant.version + 1 };
        await this.deps.audit.append({
          type: 'grant.expired',
          outcome: 'SUCCESS',
          actor: null,
          server: grant.server,
          data: { grantId: grant.id, requestId: grant.requestId, user: grant.user.email, expiresAt: new Date(grant.expiresAt).toISOString() },
        });
        return (await this.deps.store.updateGrant(next)) ? next : null;
      });
      if (expired) {
        grants++;
        this.deps.events.grantEnded(expired, 'EXPIRED', 'grant expired');
      }
    }
    return { requests, grants };
  }

  private mayRevoke(caller: Principal, grant: GrantRecord): boolean {
    return grant.user.id === caller.user.id || this.deps.policy.isAuditor(caller) || this.deps.policy.mayReview(caller, grant);
  }

  private canSeeGrant(caller: Principal, grant: GrantRecord): boolean {
    return this.mayRevoke(caller, grant);
  }

  private async visibleRequest(caller: Principal, id: string): Promise<AccessRequestRecord> {
    const request = await this.deps.store.getRequest(id);
    if (!request || !this.canSeeRequest(caller, request)) throw new NotFoundError('access request');
    return request;
  }

  private requirePending(request: AccessRequestRecord, now: number): void {
    const status = requestStatus(request, now);
    if (status !== 'PENDING') throw new AccessDeniedError('REQUEST_NOT_PENDING', `the request is ${status.toLowerCase()} and can no longer change`);
  }

  private grantFor(request: AccessRequestRecord, durationSeconds: number, now: number): GrantRecord {
    return {
      id: randomUUID(),
      user: request.requester,
      server: request.server,
      tools: request.tools,
      denyTools: request.denyTools,
      requestId: request.id,
      issuedAt: now,
      expiresAt: now + durationSeconds * 1000,
      revokedAt: null,
      revokedBy: null,
      revokeReason: null,
      expiredAt: null,
      version: 1,
    };
  }

  private requestEvent(type: string, caller: Principal | null, request: AccessRequestRecord, data: Record<string, unknown>): AuditEventInput {
    return { type, outcome: 'SUCCESS', actor: caller?.user.email ?? null, server: request.server, data: { requestId: request.id, requester: request.requester.email, ...data } };
  }

  private grantIssuedEvent(caller: Principal, grant: GrantRecord): AuditEventInput {
    return {
      type: 'grant.issued',
      outcome: 'SUCCESS',
      actor: caller.user.email,
      server: grant.server,
      data: { grantId: grant.id, requestId: grant.requestId, user: grant.user.email, tools: grant.tools, denyTools: grant.denyTools, expiresAt: new Date(grant.expiresAt).toISOString() },
    };
  }

  private async page<T>(
    fetch: (after: string | undefined, limit: number) => Promise<Listed<T>[]>,
    keep: (record: T) => boolean,
    options: { first?: number | null; after?: string | null },
  ): Promise<Page<T>> {
    const first = options.first ?? DEFAULT_PAGE;
    if (!Number.isInteger(first) || first < 1 || first > MAX_PAGE) throw new InvalidInputError(`first must be between 1 and ${MAX_PAGE}`);
    const items: Listed<T>[] = [];
    let after = options.after ?? undefined;
    let scanned = 0;
    while (items.length <= first && scanned < MAX_SCAN) {
      const batch = await fetch(after, Math.max(first * 2, 50));
      if (batch.length === 0) return { items: items.map((i) => i.record), endCursor: items.at(-1)?.cursor ?? null, hasNextPage: false };
      for (const listed of batch) {
        scanned++;
        after = listed.cursor;
        if (!keep(listed.record)) continue;
        items.push(listed);
        if (items.length > first) break;
      }
    }
    const more = items.length > first || scanned >= MAX_SCAN;
    const shown = items.slice(0, first);
    // Past the scan budget with the page unfilled, the cursor is where scanning stopped.
    const endCursor = items.length > first ? (shown.at(-1)?.cursor ?? null) : (after ?? null);
    return { items: shown.map((i) => i.record), endCursor, hasNextPage: more };
  }
}

function boundedText(value: string, name: string, required: boolean): string {
  const text = value.trim();
  if (required && text.length === 0) throw new InvalidInputError(`${name} must not be empty`);
  if (text.length > MAX_REASON) throw new InvalidInputError(`${name} must be at most ${MAX_REASON} characters`);
  return text;
}
