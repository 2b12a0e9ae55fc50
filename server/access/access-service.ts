import { randomUUID } from 'node:crypto';
import { byCaller, clientAddressData } from '../audit/client-address.js';
import type { AuditEventInput, AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import { AccessDeniedError, InvalidInputError, LimitExceededError, NotFoundError } from '../errors.js';
import type { PortcullisError } from '../errors.js';
import { sameEmail } from '../identity/email-key.js';
import type { FreshDeciders } from '../identity/fresh-decider.js';
import type { Principal, Principals } from '../identity/principal.js';
import { listedPage } from '../stores/listed-page.js';
import type { Page } from '../stores/listed-page.js';
import type { CursorSeal } from '../stores/sealed-cursor.js';
import type { AccessStore } from '../stores/types.js';
import { boundedText } from '../text/bounded-text.js';
import type { AccessEvents } from './access-events.js';
import type { AccessPolicy, RequestAsk } from './access-policy.js';
import { argumentSchemaProblem } from './argument-rules.js';
import { LISTING_ID } from './listing-cursor.js';
import { RecentlySeen } from './recently-seen.js';
import { isToolName } from './tool-patterns.js';
import type { AccessRequestRecord, AccessRequestStatus, AccessScope, FiledByAgent, GrantRecord, ReviewDecision, ReviewRecord } from './types.js';
import { grantStatus, requestStatus } from './types.js';

export interface AccessServiceDeps {
  store: AccessStore;
  audit: AuditLog;
  clock: Clock;
  policy: AccessPolicy;
  events: AccessEvents;
  config: Pick<PortcullisConfig, 'approvals' | 'broker'>;
  /** The tools of a server that are read-only now (its annotations, and the operator's list): fixed into read-only grants. */
  readOnlyTools: (server: string) => Promise<string[]>;
  /** Who a requester is now (their IdP, email domain, SCIM standing and groups): a request is approved only while its requester could still file it. */
  principals: Pick<Principals, 'current'>;
  /** Seals a listing's cursor that would otherwise name a request the caller may not see. */
  cursors: CursorSeal;
  /** Who a reviewer or requester is now, when their credential outlives sign-ins (identity/fresh-decider.ts); absent: as the credential says. */
  deciders?: Pick<FreshDeciders, 'current' | 'newest'>;
}

type ReviewInput = { requestId: string; decision: ReviewDecision; reason?: string | null; durationSeconds?: number | null; arguments?: Record<string, unknown> | null };

/** The scope a request asks for and its grant carries, as audited and stored. */
function scopeOf(record: AccessScope): AccessScope {
  const { rule, tools, denyTools, resources, denyResources, prompts, denyPrompts, readOnly, arguments: args } = record;
  return { rule, tools, denyTools, resources, denyResources, prompts, denyPrompts, readOnly, arguments: args };
}

/** An approver's narrower argument rules, each a JSON Schema for one tool's arguments (checked here, so a broken one stores nothing). */
function narrowerArguments(input: Record<string, unknown> | null | undefined, decision: ReviewDecision): Record<string, Record<string, unknown>> | null {
  if (input == null || Object.keys(input).length === 0) return null;
  if (decision !== 'APPROVE') throw new InvalidInputError('arguments go with APPROVE only', 'arguments');
  if (Object.keys(input).length > MAX_ARGUMENT_RULES) throw new InvalidInputError(`at most ${MAX_ARGUMENT_RULES} argument rules`, 'arguments');
  for (const [tool, schema] of Object.entries(input)) {
    if (!isToolName(tool)) throw new InvalidInputError(`argument rules name tools: "${tool.slice(0, 64)}" is not a tool name`, 'arguments');
    const problem = argumentSchemaProblem(schema);
    if (problem) throw new InvalidInputError(`arguments.${tool}: ${problem}`, 'arguments');
  }
  return input as Record<string, Record<string, unknown>>;
}

/** The request's argument rules with every approver's narrowing added: a call must satisfy them all. */
function withApproverArguments(request: AccessRequestRecord, approvals: readonly ReviewRecord[]): AccessRequestRecord {
  // A Map, not an object: a tool may be named `__proto__`.
  const rules = new Map(Object.entries(request.arguments).map(([tool, schemas]) => [tool, [...schemas]]));
  for (const approval of approvals) {
    for (const [tool, schema] of Object.entries(approval.arguments ?? {})) rules.set(tool, [...(rules.get(tool) ?? []), schema]);
  }
  return { ...request, arguments: Object.fromEntries(rules) };
}

/** The reason a grant revoked by an anomaly's response gives its holder (revokeForAnomaly). */
export const ANOMALY_REVOKE_REASON = 'revoked by Portcullis: ask your security team';

/**
 * Whether `user` is the caller: the same user, or the same address through another IdP or
 * under another NameID (one person with two identities, e.g. a Slack click mapped by email
 * to their other one, or a transient NameID at each sign-in, is still one person: they
 * neither review their own request nor count twice towards its approvals).
 */
function samePerson(caller: Principal, user: { id: string; email: string }): boolean {
  return user.id === caller.user.id || sameEmail(user.email, caller.user.email);
}

const MAX_ARGUMENT_RULES = 50;
const MAX_WAITING_AGENT_REQUESTS = 5;
/** Every pending request notifies its reviewers: one person (or a leaked token) must not flood them. */
const MAX_WAITING_REQUESTS = 20;

/**
 * Just-in-time access: requests, reviews, grants, revocation and expiry. Every state
 * change runs under the record's lock, is audited before it is written, and is written
 * compare-and-set; only then are other instances told. A refused operation stores nothing.
 */
export class AccessService {
  private readonly refusalsAudited = new RecentlySeen(60_000, 10_000);

  constructor(private readonly deps: AccessServiceDeps) {}

  /** A request of the caller's; `filedByAgent` when a model filed it through the broker tool. */
  async createRequest(asked: Principal, input: RequestAsk & { reason: string }, filedByAgent: FiledByAgent | null = null): Promise<AccessRequestRecord> {
    const reason = boundedText(input.reason, 'reason', true);
    // Through a token, the request is the newest sign-in's: without a recent one it is filed
    // as the token has the person, for a reviewer to judge, and nothing approves it at once.
    const fresh = this.deps.deciders ? await this.deps.deciders.newest(asked) : asked;
    const caller = fresh ?? asked;
    const { autoApprove: ruleApproves, ...scope } = this.deps.policy.planRequest(caller, input);
    const approvesAtOnce = ruleApproves && (filedByAgent === null || this.deps.config.broker.requestAccessTool.autoApprove);
    const autoApprove = approvesAtOnce && fresh !== null;
    const now = this.deps.clock.now();
    await this.checkBacklog(caller, now, filedByAgent !== null);
    let request: AccessRequestRecord = {
      id: randomUUID(),
      requester: caller.user,
      ...(filedByAgent ? { filedByAgent } : {}),
      server: input.server,
      ...scope,
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
      this.requestEvent('access_request.created', caller, request, { ...scopeOf(request), durationSeconds: request.durationSeconds, reason, autoApprove, ...(approvesAtOnce && !autoApprove ? { autoApproveHeld: 'SIGN_IN_TOO_OLD' } : {}), ...(filedByAgent ? { filedByAgent } : {}) }),
    ];
    let grant: GrantRecord | undefined;
    if (autoApprove) {
      grant = this.grantFor(request, request.durationSeconds, now, await this.readOnlyToolsFor(request));
      request = { ...request, status: 'APPROVED', grantId: grant.id, decidedAt: now };
      audits.push(this.grantIssuedEvent(caller, grant));
    }
    const filed = request;
    // Checked again under the requester's lock: requests sent at once all passed the check above before any was stored.
    await this.deps.store.withLock(`requester:${caller.user.id}`, async () => {
      if (filed.status === 'PENDING') await this.checkBacklog(caller, this.deps.clock.now(), filedByAgent !== null);
      for (const event of audits) await this.deps.audit.append(event);
      await this.deps.store.createRequest(filed, grant);
    });
    this.deps.events.requestChanged(request);
    if (grant) this.deps.events.grantIssued(grant);
    return request;
  }

  /**
   * Nobody may bury reviewers in requests (each notifies them all): few of a person's
   * requests may wait at once, and fewer filed by a model in a loop (or a prompt-injected one).
   */
  private async checkBacklog(caller: Principal, now: number, byAgent: boolean): Promise<void> {
    const recent = await this.deps.store.listRequests({ requesterId: caller.user.id, limit: 100 });
    const pending = recent.filter(({ record }) => requestStatus(record, now) === 'PENDING');
    if (pending.length >= MAX_WAITING_REQUESTS) {
      throw new LimitExceededError(`${pending.length} of your requests already wait for review (at most ${MAX_WAITING_REQUESTS}): wait for them, or cancel some`);
    }
    const fromAgents = pending.filter(({ record }) => record.filedByAgent).length;
    if (byAgent && fromAgents >= MAX_WAITING_AGENT_REQUESTS) {
      throw new LimitExceededError(`${fromAgents} requests filed from an MCP client already wait for review (at most ${MAX_WAITING_AGENT_REQUESTS}): wait for them, or cancel some`);
    }
  }

  /**
   * A review of someone's request. A review refused for who asks or for the request's state
   * (their own request, not theirs to review, already reviewed, no longer pending, no recent
   * sign-in, the requester's basis gone) is audited too: an attempt to approve one's own
   * request, or one outside one's rules, is what a security team wants to see.
   */
  async reviewRequest(asked: Principal, input: ReviewInput): Promise<AccessRequestRecord> {
    try {
      return await this.review(asked, input);
    } catch (error) {
      if (error instanceof AccessDeniedError || error instanceof NotFoundError) await this.auditRefusedReview(asked, input, error);
      throw error;
    }
  }

  /**
   * A refused review, audited. Refusals are the asker's to repeat, and the log is not theirs
   * to fill: only an id a request has is recorded (null else, so made-up ids are one), and
   * one person's refusal of one kind for one request is audited once a minute on each instance.
   */
  private async auditRefusedReview(asked: Principal, input: ReviewInput, error: PortcullisError): Promise<void> {
    const requestId = LISTING_ID.test(input.requestId) && (await this.deps.store.getRequest(input.requestId)) !== null ? input.requestId : null;
    if (!this.refusalsAudited.firstIn(`${asked.user.id}\n${error.code}\n${requestId ?? ''}`, this.deps.clock.now())) return;
    await this.deps.audit.append(byCaller(asked, { type: 'access_request.review_refused', outcome: 'DENIED', server: null, data: { requestId, decision: input.decision, code: error.code, ...reviewChannel(asked) } }));
  }

  private async review(asked: Principal, input: ReviewInput): Promise<AccessRequestRecord> {
    const reason = input.reason == null ? null : boundedText(input.reason, 'reason', false);
    const caller = this.deps.deciders ? await this.deps.deciders.current(asked) : asked;
    // Only a reviewer's arguments are compiled, and only a reviewer makes the broker describe a server's tools.
    const reviewed = await this.reviewableRequest(caller, input.requestId);
    const narrowed = narrowerArguments(input.arguments, input.decision);
    // Read before the lock: describing a server's tools may take seconds, and the lock is short.
    const readOnlyTools = input.decision === 'APPROVE' ? await this.readOnlyToolsFor(reviewed) : null;
    const { updated, grant } = await this.deps.store.withLock(`request:${input.requestId}`, async () => {
      const request = await this.reviewableRequest(caller, input.requestId);
      const now = this.deps.clock.now();
      this.requirePending(request, now);
      if (request.reviews.some((r) => samePerson(caller, r.reviewer))) throw new AccessDeniedError('ALREADY_REVIEWED', 'you have already reviewed this request');
      const duration = input.durationSeconds ?? null;
      if (duration !== null) {
        if (input.decision !== 'APPROVE') throw new InvalidInputError('durationSeconds goes with APPROVE only', 'durationSeconds');
        if (!Number.isInteger(duration) || duration <= 0 || duration > request.durationSeconds) {
          throw new InvalidInputError(`durationSeconds may shorten the requested ${request.durationSeconds} s, never lengthen it`, 'durationSeconds');
        }
      }
      const reviews = [...request.reviews, { reviewer: caller.user, decision: input.decision, reason, durationSeconds: duration, ...(narrowed ? { arguments: narrowed } : {}), createdAt: now }];
      const approvals = reviews.filter((r) => r.decision === 'APPROVE');
      // What the grant would last: the request's duration, as the approvers shortened it.
      const granted = Math.min(request.durationSeconds, ...approvals.flatMap((r) => r.durationSeconds ?? []));
      if (input.decision === 'APPROVE' && !(await this.requesterMayStillAsk(request, granted))) {
        throw new AccessDeniedError('BASIS_REMOVED', 'the requester no longer holds a role that allows this request for that long (or can no longer sign in): it cannot be approved');
      }
      const status: AccessRequestStatus =
        input.decision === 'DENY' ? 'DENIED' : (await this.countingApprovals(request)) + 1 >= this.deps.config.approvals.requiredApprovals ? 'APPROVED' : 'PENDING';
      const grant = status === 'APPROVED' ? this.grantFor(withApproverArguments(request, approvals), granted, now, readOnlyTools) : undefined;
      const next: AccessRequestRecord = {
        ...request,
        reviews,
        status,
        grantId: grant?.id ?? null,
        decidedAt: status === 'PENDING' ? null : now,
        version: request.version + 1,
      };
      await this.deps.audit.append(this.requestEvent('access_request.reviewed', caller, next, { decision: input.decision, reason, durationSeconds: duration, ...(narrowed ? { arguments: narrowed } : {}), status, ...reviewChannel(caller) }));
      if (grant) await this.deps.audit.append(this.grantIssuedEvent(caller, grant));
      if (!(await this.deps.store.updateRequest(next, grant))) throw new AccessDeniedError('REQUEST_NOT_PENDING', 'the request changed meanwhile; reload it');
      return { updated: next, grant };
    });
    this.deps.events.requestChanged(updated);
    if (grant) this.deps.events.grantIssued(grant);
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

  /** The request if the caller may see it (their own, one they may review, or any for an auditor); NOT_FOUND otherwise, as for unknown ids. */
  async getRequest(caller: Principal, id: string): Promise<AccessRequestRecord> {
    return this.visibleRequest(caller, id);
  }

  /** Auditors see every request, as they see every grant: the audit drawer shows the request behind a call. */
  canSeeRequest(caller: Principal, request: AccessRequestRecord): boolean {
    return request.requester.id === caller.user.id || this.deps.policy.isAuditor(caller) || this.deps.policy.mayReview(caller, request);
  }

  /** Whether the caller may review the request now: pending, not theirs, not yet reviewed by them, and within their review rules. */
  canReview(caller: Principal, request: AccessRequestRecord): boolean {
    return (
      requestStatus(request, this.deps.clock.now()) === 'PENDING' &&
      !samePerson(caller, request.requester) &&
      !request.reviews.some((r) => samePerson(caller, r.reviewer)) &&
      this.deps.policy.mayReview(caller, request)
    );
  }

  /** The request, if the caller may review it: not their own (SELF_REVIEW), and within their review rules (else NOT_FOUND, as for unknown ids). */
  private async reviewableRequest(caller: Principal, id: string): Promise<AccessRequestRecord> {
    const request = await this.visibleRequest(caller, id);
    if (samePerson(caller, request.requester)) throw new AccessDeniedError('SELF_REVIEW', 'nobody reviews their own request');
    if (!this.deps.policy.mayReview(caller, request)) throw new NotFoundError('access request');
    return request;
  }

  /**
   * How many of the request's earlier approvals count still: each by someone who may review
   * it now (a reviewer the IdP or SCIM took out of the reviewing group, or deprovisioned, no
   * longer vouches for it). Their narrowings (duration, argument rules) apply all the same.
   */
  private async countingApprovals(request: AccessRequestRecord): Promise<number> {
    let standing = 0;
    for (const review of request.reviews) {
      if (review.decision !== 'APPROVE') continue;
      const reviewer = await this.deps.principals.current(review.reviewer, review.createdAt);
      if (reviewer && this.deps.policy.mayReview(this.deps.policy.holderOf(reviewer), request)) standing++;
    }
    return standing;
  }

  /**
   * Whether the requester could file this request now: roles are held by group and the IdP
   * (or SCIM) may have taken one away since, or the config narrowed the rule; an approval
   * must not hand out what no role of theirs allows any more.
   */
  private async requesterMayStillAsk(request: AccessRequestRecord, seconds: number): Promise<boolean> {
    const requester = await this.deps.principals.current(request.requester, request.createdAt);
    return requester !== null && this.deps.policy.founds(this.deps.policy.holderOf(requester), request, seconds);
  }

  async listRequests(
    caller: Principal,
    options: { status?: AccessRequestStatus | null; mine?: boolean | null; first?: number | null; after?: string | null },
  ): Promise<Page<AccessRequestRecord>> {
    const now = this.deps.clock.now();
    return listedPage(
      (after, limit) => this.deps.store.listRequests({ requesterId: options.mine ? caller.user.id : undefined, after, limit }),
      (r) => options.status == null || requestStatus(r, now) === options.status,
      options,
      { visible: (r) => this.canSeeRequest(caller, r), cursors: this.deps.cursors, scope: `access-requests:${caller.user.id}` },
    );
  }

  /** A grant its owner, an auditor, or someone who may review its request can see. */
  async getGrant(caller: Principal, id: string): Promise<GrantRecord> {
    const grant = await this.findGrant(caller, id);
    if (!grant) throw new NotFoundError('grant');
    return grant;
  }

  /** The grant if the caller may see it; null otherwise, exactly as for an unknown id. */
  async findGrant(caller: Principal, id: string): Promise<GrantRecord | null> {
    const grant = await this.deps.store.getGrant(id);
    return grant && this.canSeeGrant(caller, grant) ? grant : null;
  }

  async listGrants(caller: Principal, options: { active?: boolean | null; first?: number | null; after?: string | null }): Promise<Page<GrantRecord>> {
    const auditor = this.deps.policy.isAuditor(caller);
    const now = this.deps.clock.now();
    return listedPage(
      (after, limit) => this.deps.store.listGrants({ userId: auditor ? undefined : caller.user.id, after, limit }),
      (g) => options.active == null || (grantStatus(g, now) === 'ACTIVE') === options.active,
      options,
    );
  }

  async revokeGrant(caller: Principal, id: string, reasonInput: string): Promise<GrantRecord> {
    const reason = boundedText(reasonInput, 'reason', true);
    return this.revoke(id, reason, { actor: caller.user.email, data: clientAddressData(caller.address) }, (grant) => this.mayRevoke(caller, grant));
  }

  /**
   * Revokes a grant as the system, for an anomaly's response (server/detection/responses.ts):
   * no person asked, so the event's actor is null and its data names the anomaly and its rule,
   * for auditors. The grant's own reason, which its holder reads, names neither: nobody sees an
   * anomaly about themselves (docs/detection.md), and the rule would tell a prober which of their
   * moves was noticed. The grant must be requested and approved again. Throws GRANT_NOT_ACTIVE
   * when it already ended.
   */
  revokeForAnomaly(id: string, anomaly: { id: string; rule: string }): Promise<GrantRecord> {
    return this.revoke(id, ANOMALY_REVOKE_REASON, { actor: null, data: { anomalyId: anomaly.id, rule: anomaly.rule } }, () => true);
  }

  /**
   * The active grants of the person with this email (on `server` unless null): what a
   * response revokes when the detection names a person but no grant. The address as the
   * rest of Portcullis compares it (ASCII case folded): the IdP may have asserted it in
   * another case when the grant was asked for than in the session the detection saw.
   */
  activeGrantsOf(email: string, server: string | null): Promise<GrantRecord[]> {
    return this.activeGrantsWhere((grant) => sameEmail(grant.user.email, email) && (server === null || grant.server === server));
  }

  /**
   * The active grants `which` picks: what deprovisioning and anomaly responses revoke. Read
   * from the store's index of active grants, not by walking the listing back to `now -
   * approvals.maxDurationSeconds`: that bound is today's config, and a grant issued under a
   * higher maximum before an operator lowered it would be missed (and kept).
   */
  async activeGrantsWhere(which: (grant: GrantRecord) => boolean): Promise<GrantRecord[]> {
    const now = this.deps.clock.now();
    // The index and the records are read apart: one revoked in between is no longer active.
    return (await this.deps.store.activeGrants(now)).filter((grant) => grantStatus(grant, now) === 'ACTIVE' && which(grant));
  }

  /** The pending requests `which` picks, from the store's index of pending ones (not bounded by today's requestTtlSeconds, as activeGrantsWhere). */
  async pendingRequestsWhere(which: (request: AccessRequestRecord) => boolean): Promise<AccessRequestRecord[]> {
    const now = this.deps.clock.now();
    return (await this.deps.store.pendingRequests(now)).filter((request) => requestStatus(request, now) === 'PENDING' && which(request));
  }

  /**
   * Revokes a grant as the system because its user's identity changed (server/scim: the
   * IdP deprovisioned them, or took away the role it was granted under). Throws
   * GRANT_NOT_ACTIVE when it already ended.
   */
  revokeForIdentityChange(id: string, reason: string, data: Record<string, unknown>): Promise<GrantRecord> {
    return this.revoke(id, reason, { actor: null, data }, () => true);
  }

  /** Cancels a pending request as the system, its requester deprovisioned; null when it is no longer pending. */
  async cancelForIdentityChange(id: string, reason: string, data: Record<string, unknown>): Promise<AccessRequestRecord | null> {
    const cancelled = await this.deps.store.withLock(`request:${id}`, async () => {
      const request = await this.deps.store.getRequest(id);
      const now = this.deps.clock.now();
      if (!request || requestStatus(request, now) !== 'PENDING') return null;
      const next: AccessRequestRecord = { ...request, status: 'CANCELLED', decidedAt: now, version: request.version + 1 };
      await this.deps.audit.append(this.requestEvent('access_request.cancelled', null, next, { reason, ...data }));
      return (await this.deps.store.updateRequest(next)) ? next : null;
    });
    if (cancelled) this.deps.events.requestChanged(cancelled);
    return cancelled;
  }

  /** Revocation under the grant's lock, audited before it is written, then told to every instance. */
  private async revoke(id: string, reason: string, by: { actor: string | null; data: Record<string, unknown> }, may: (grant: GrantRecord) => boolean): Promise<GrantRecord> {
    const revoked = await this.deps.store.withLock(`grant:${id}`, async () => {
      const grant = await this.deps.store.getGrant(id);
      if (!grant || !may(grant)) throw new NotFoundError('grant');
      const now = this.deps.clock.now();
      const status = grantStatus(grant, now);
      if (status !== 'ACTIVE') throw new AccessDeniedError('GRANT_NOT_ACTIVE', `the grant is already ${status.toLowerCase()}`);
      const next: GrantRecord = { ...grant, revokedAt: now, revokedBy: by.actor, revokeReason: reason, version: grant.version + 1 };
      await this.deps.audit.append({
        type: 'grant.revoked',
        outcome: 'SUCCESS',
        actor: by.actor,
        server: grant.server,
        data: { grantId: grant.id, requestId: grant.requestId, user: grant.user.email, reason, ...by.data },
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

  /** Its owner, an auditor, or a reviewer who could have approved it (whoever may revoke it). */
  canSeeGrant(caller: Principal, grant: GrantRecord): boolean {
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

  /**
   * For a read-only request, which tools are read-only as it is granted (the server's
   * annotations as it describes its tools at this moment, and the operator's list), fixed
   * into the grant: a server cannot widen a grant later by re-annotating a tool.
   */
  private async readOnlyToolsFor(request: AccessRequestRecord): Promise<string[] | null> {
    return request.readOnly ? this.deps.readOnlyTools(request.server) : null;
  }

  /** The grant an approved request becomes. */
  private grantFor(request: AccessRequestRecord, durationSeconds: number, now: number, readOnlyTools: string[] | null): GrantRecord {
    return {
      id: randomUUID(),
      user: request.requester,
      server: request.server,
      ...scopeOf(request),
      readOnlyTools: request.readOnly ? (readOnlyTools ?? []) : null,
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
    return { type, outcome: 'SUCCESS', actor: caller?.user.email ?? null, server: request.server, data: { requestId: request.id, requester: request.requester.email, ...data, ...clientAddressData(caller?.address) } };
  }

  private grantIssuedEvent(caller: Principal, grant: GrantRecord): AuditEventInput {
    return byCaller(caller, {
      type: 'grant.issued',
      outcome: 'SUCCESS',
      server: grant.server,
      data: { grantId: grant.id, requestId: grant.requestId, user: grant.user.email, ...scopeOf(grant), readOnlyTools: grant.readOnlyTools, expiresAt: new Date(grant.expiresAt).toISOString() },
    });
  }
}

/** Where a review came from, for its audit event: a Slack button (with the Slack user and workspace), else the API (GraphQL: console, CLI). */
function reviewChannel(caller: Principal): { channel: 'api' } | { channel: 'slack'; slack: { user: string; team: string } } {
  const { credential } = caller;
  return credential.kind === 'integration' ? { channel: 'slack', slack: { user: credential.id, team: credential.team } } : { channel: 'api' };
}
