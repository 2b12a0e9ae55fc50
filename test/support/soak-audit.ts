import { spawn } from 'node:child_process';
import type { BrokerCluster } from './broker-cluster.js';
import type { SoakRun } from './soak-load.js';
import { signIn } from './test-idp.js';
import { postGraphQL } from './test-server.js';

export interface LoggedEvent {
  id: string;
  type: string;
  outcome: string;
  sessionId: string | null;
  data: Record<string, unknown>;
  hash: string;
  prevHash: string;
}

/** What the audit log says about the run; `problems` is empty when it keeps every promise. */
export interface AuditFindings {
  events: number;
  /** What `portcullis audit verify` printed, and whether it exited 0. */
  verify: { intact: boolean; output: string };
  problems: string[];
  /** Calls let through under a grant although sent after its revokeGrant was answered: how long after the answer each was sent (ms). */
  allowedAfterRevocation: number[];
}

// 100 a page keeps within the API's query cost limit.
const PAGE = 'query($after: String) { auditEvents(first: 100, after: $after) { items { id type outcome sessionId data hash prevHash } pageInfo { hasNextPage endCursor } } }';

/** The whole log, oldest first, read through the API as an auditor would. */
export async function readAuditLog(cluster: BrokerCluster): Promise<LoggedEvent[]> {
  const cookie = await signIn(cluster.url, cluster.idp, { nameId: 'soak-auditor@example.com', attributes: { email: 'soak-auditor@example.com', groups: ['security'] } });
  const events: LoggedEvent[] = [];
  let after: string | null = null;
  for (;;) {
    const { body } = await postGraphQL(cluster.url, { query: PAGE, variables: { after } }, { cookie });
    const page = (body.data as { auditEvents: { items: LoggedEvent[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } | undefined)?.auditEvents;
    if (!page) throw new Error(`reading the audit log failed: ${JSON.stringify(body.errors)}`);
    events.push(...page.items);
    if (!page.pageInfo.hasNextPage) return events;
    after = page.pageInfo.endCursor;
  }
}

/** `portcullis audit verify --config`: the chain walked from the store, by the shipped CLI. */
export function verifyWithCli(cluster: BrokerCluster): Promise<AuditFindings['verify']> {
  const child = spawn(process.execPath, ['bin/portcullis.js', 'audit', 'verify', '--config', cluster.configFile], { env: { PATH: process.env.PATH, HOME: process.env.HOME }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ intact: code === 0, output: output.trim() })));
}

/** Events of `type` keyed by a field of their data, to find each acknowledged thing's record. */
function byKey(events: readonly LoggedEvent[], type: string, key: (event: LoggedEvent) => unknown): Map<string, number[]> {
  const index = new Map<string, number[]>();
  events.forEach((event, position) => {
    const value = event.type === type ? key(event) : undefined;
    if (typeof value === 'string') index.set(value, [...(index.get(value) ?? []), position]);
  });
  return index;
}

const echoed = (event: LoggedEvent) => (event.outcome === 'SUCCESS' ? ((event.data.params as { arguments?: { message?: unknown } } | null)?.arguments?.message ?? undefined) : undefined);

/**
 * Checks the log against what the clients saw: every event once and chained in order;
 * every answered call's `mcp.request` there once, in each worker's order; every
 * acknowledged request, review and revocation recorded once. And the calls allowed under
 * a grant although sent after its revokeGrant was answered: the answer comes once the
 * store says revoked, and the other instances hear of it by pub/sub, so only a call that
 * overtakes that message may pass (a session admitted across the revocation re-reads its
 * grants once it can hear of their end: broker/session-registry.ts open()).
 */
export function checkAudit(run: SoakRun, events: readonly LoggedEvent[], verify: AuditFindings['verify']): AuditFindings {
  const problems: string[] = [];
  if (!verify.intact) problems.push(`audit verify failed: ${verify.output}`);
  const ids = new Set<string>();
  events.forEach((event, i) => {
    if (ids.has(event.id)) problems.push(`event ${event.id} appears twice`);
    ids.add(event.id);
    if (i > 0 && event.prevHash !== events[i - 1]!.hash) problems.push(`event ${event.id} does not chain to the one before it`);
  });

  const requests = byKey(events, 'mcp.request', echoed);
  for (const [token, positions] of requests) if (positions.length > 1) problems.push(`call ${token} audited ${positions.length} times`);
  const lastPosition = new Map<number, number>();
  for (const call of run.calls) {
    const positions = requests.get(call.token) ?? [];
    if (call.outcome !== 'answered') continue;
    if (positions.length === 0) problems.push(`call ${call.token} was answered but never audited`);
    const position = positions[0] ?? -1;
    if (position < (lastPosition.get(call.worker) ?? -1)) problems.push(`call ${call.token} audited before an earlier call of its worker`);
    lastPosition.set(call.worker, position);
  }

  const once = (index: Map<string, number[]>, key: string, what: string) => {
    const count = index.get(key)?.length ?? 0;
    if (count !== 1) problems.push(`${what} ${key} acknowledged, audited ${count} times`);
  };
  const created = byKey(events, 'access_request.created', (e) => e.data.requestId);
  const reviewed = byKey(events, 'access_request.reviewed', (e) => e.data.requestId);
  const issued = byKey(events, 'grant.issued', (e) => e.data.grantId);
  const revoked = byKey(events, 'grant.revoked', (e) => e.data.grantId);
  const { requests: asked, reviews, revocations } = run.acknowledged;
  for (const { requestId, grantId } of asked) {
    once(created, requestId, 'access request');
    if (grantId) once(issued, grantId, 'grant');
  }
  for (const { requestId, grantId } of reviews) {
    once(reviewed, requestId, 'review of');
    once(issued, grantId, 'grant');
  }
  for (const { grantId } of revocations) once(revoked, grantId, 'revocation of');
  // One engineer's requests, approvals and revocations were answered one after another: the log has them in that order.
  const answered = [
    ...asked.map((a) => ({ ...a, what: `access request ${a.requestId}`, position: created.get(a.requestId)?.[0] })),
    ...reviews.map((a) => ({ ...a, what: `review of ${a.requestId}`, position: reviewed.get(a.requestId)?.[0] })),
    ...revocations.map((a) => ({ ...a, what: `revocation of ${a.grantId}`, position: revoked.get(a.grantId)?.[0] })),
  ].sort((a, b) => a.order - b.order);
  const lastOf = new Map<string, number>();
  for (const { user, what, position } of answered) {
    // Missing altogether: reported above.
    if (position === undefined) continue;
    if (position < (lastOf.get(user) ?? -1)) problems.push(`${what} audited before an earlier answer to ${user}`);
    lastOf.set(user, position);
  }

  const allowedAfterRevocation: number[] = [];
  const grantOf = new Map(events.filter((e) => e.type === 'mcp.request').map((e) => [echoed(e), e.data.grantId]));
  const revokedAt = new Map(run.acknowledged.revocations.map((r) => [r.grantId, r.at]));
  for (const call of run.calls) {
    const at = revokedAt.get(grantOf.get(call.token) as string);
    if (call.outcome === 'answered' && at !== undefined && call.sentAt > at) allowedAfterRevocation.push(call.sentAt - at);
  }
  return { events: events.length, verify, problems, allowedAfterRevocation };
}
