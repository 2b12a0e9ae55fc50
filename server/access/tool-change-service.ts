import { byCaller } from '../audit/client-address.js';
import type { AuditLog } from '../audit/types.js';
import { ForbiddenError, NotFoundError } from '../errors.js';
import type { FreshDeciders } from '../identity/fresh-decider.js';
import type { Principal } from '../identity/principal.js';
import type { ToolChangeRecord, ToolPinStore } from '../stores/types.js';
import type { AccessEvents } from './access-events.js';
import type { AccessPolicy } from './access-policy.js';

interface ToolChangeServiceDeps {
  store: ToolPinStore;
  policy: AccessPolicy;
  audit: AuditLog;
  events: Pick<AccessEvents, 'toolChangeAccepted'>;
  /** Who a reviewer is now, when their credential outlives sign-ins (identity/fresh-decider.ts); absent: as the credential says. */
  deciders?: Pick<FreshDeciders, 'current'>;
}

/**
 * Tool definitions that changed after they were pinned (broker/tool-pinning.ts), and their
 * acceptance. Reviewers of a server and auditors see its changes; a reviewer whose rules
 * cover the tool accepts one, which re-pins the tool to the new definition on every
 * instance (the event tells brokers to show it again).
 */
export class ToolChangeService {
  constructor(private readonly deps: ToolChangeServiceDeps) {}

  /** Pending changes the caller may see: of `server`, or of every server they review (all, for an auditor). */
  async changes(caller: Principal, server?: string): Promise<ToolChangeRecord[]> {
    // An unknown server and one the caller has no business with get the same answer.
    if (server !== undefined && (!this.deps.policy.serverExists(server) || !this.maySee(caller, server))) throw new NotFoundError('MCP server', 'server');
    const changes = await this.deps.store.changes(server);
    return changes.filter((change) => this.maySee(caller, change.server));
  }

  async accept(asked: Principal, server: string, tool: string, hash: string): Promise<ToolChangeRecord> {
    if (!this.deps.policy.serverExists(server) || !this.maySee(asked, server)) throw new NotFoundError('MCP server', 'server');
    const caller = this.deps.deciders ? await this.deps.deciders.current(asked) : asked;
    if (!this.deps.policy.mayReview(caller, { server, tools: [tool], resources: [], prompts: [] })) throw new ForbiddenError(`your review rules do not cover tool "${tool.slice(0, 128)}" on "${server}"`, 'tool');
    const pending = (await this.deps.store.changes(server)).find((c) => c.tool === tool && c.seen.hash === hash);
    if (!pending) throw new NotFoundError('pending change of this tool with this hash', 'hash');
    // Audited first, as every decision is: no re-pin the log does not show.
    await this.deps.audit.append(byCaller(caller, { type: 'mcp.tool.accepted', outcome: 'SUCCESS', server, tool, data: { oldHash: pending.pinned.hash, newHash: hash } }));
    const accepted = await this.deps.store.accept(server, tool, hash);
    if (!accepted) throw new NotFoundError('pending change of this tool with this hash (it was accepted or replaced meanwhile)', 'hash');
    this.deps.events.toolChangeAccepted({ server, tool, hash });
    return accepted;
  }

  private maySee(caller: Principal, server: string): boolean {
    return this.deps.policy.isAuditor(caller) || this.deps.policy.reviewRules(caller, server).length > 0;
  }
}
