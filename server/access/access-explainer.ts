import type { Clock } from '../clock.js';
import type { McpServerConfig, PortcullisConfig } from '../config/schema.js';
import { AccessDeniedError, InvalidInputError, NotFoundError } from '../errors.js';
import type { Principal } from '../identity/principal.js';
import { rolesOf } from '../identity/principal.js';
import type { AccessStore } from '../stores/types.js';
import type { UserIdentity } from '../stores/types.js';
import type { AccessPolicy } from './access-policy.js';
import { argumentsOf } from './access-policy.js';
import { CompiledGrant, decide } from './grant-decision.js';
import type { Decision, Subject } from './grant-decision.js';
import type { GrantRecord } from './types.js';
import { grantStatus } from './types.js';

/** What someone asks about: a method on a server, and the tool, prompt or resource it names (with a call's arguments). */
export interface ExplainQuestion {
  server: string;
  method: string;
  name?: string | null;
  arguments?: unknown;
  /** Whom it is asked for (a user id); only auditors may ask for someone else. */
  userId?: string | null;
}

export interface Explanation {
  allowed: boolean;
  /** The refusal's reason, as the broker's `data.reason` would say it; null when allowed. */
  reason: string | null;
  /** The clause that decided (an allowing grant says `allowed`). */
  clause: string;
  grantId: string | null;
  /** The config rule behind the deciding grant. */
  rule: string | null;
  pattern: string | null;
  /** For an argument rule: the path of the argument that failed (never its value). */
  argumentPath: string | null;
  /** The same, in a sentence for people. */
  summary: string;
  /** When refused: the request rules under which the person could ask for it. */
  requestableUnder: string[];
}

/** Methods any grant on the server allows (the session's own housekeeping). */
const SESSION_METHODS = new Set(['initialize', 'ping', 'logging/setLevel', 'tasks/get', 'tasks/result', 'tasks/cancel', 'tasks/list', 'notifications/initialized', 'notifications/cancelled', 'notifications/progress', 'notifications/roots/list_changed', 'notifications/tasks/status']);

/** Methods decided by what they name, and what kind of thing that is. */
const NAMED_METHODS: Record<string, Subject['kind'] | 'completion'> = {
  'tools/call': 'tool',
  'tools/list': 'tool',
  'prompts/get': 'prompt',
  'prompts/list': 'prompt',
  'resources/read': 'resource',
  'resources/subscribe': 'resource',
  'resources/unsubscribe': 'resource',
  'resources/list': 'resource',
  'resources/templates/list': 'resourceTemplate',
  'completion/complete': 'completion',
};

/** Grants a person's sessions ride on (as the broker reads them). */
const GRANTS_READ = 100;

/**
 * "Why denied", for people: the broker's own decision (grant-decision.ts) over the same
 * grants a session would hold, with the rules under which the person could ask for what
 * they lack. It reads the store only; it never touches an upstream.
 */
export class AccessExplainer {
  constructor(private readonly deps: { store: AccessStore; policy: AccessPolicy; clock: Clock; config: Pick<PortcullisConfig, 'servers' | 'roles'> }) {}

  async explain(caller: Principal, question: ExplainQuestion): Promise<Explanation> {
    const server = this.deps.config.servers.find((s) => s.name === question.server);
    if (!server) throw new AccessDeniedError('UNKNOWN_SERVER', `unknown MCP server "${question.server.slice(0, 64)}"`);
    if (!/^[A-Za-z0-9_./-]{1,128}$/.test(question.method)) throw new InvalidInputError('method must be a JSON-RPC method name');
    const { user, grants } = await this.subjectOf(caller, question.userId ?? null, server.name);
    const compiled = grants.map((g) => new CompiledGrant(g));
    const kind = Object.hasOwn(NAMED_METHODS, question.method) ? NAMED_METHODS[question.method]! : null;
    if (kind === null) return this.sessionLevel(server, question.method, compiled);
    if (question.name == null || question.name === '') throw new InvalidInputError(`${question.method} is decided by what it names: give the name (a tool, a prompt or a resource URI)`);
    const subject = subjectFor(kind, question.name, question.method === 'tools/call' ? (question.arguments ?? {}) : undefined);
    const decision = decide(compiled, subject);
    if (decision.allowed) {
      return { ...answer(decision), summary: `Allowed by grant ${decision.grantId} (rule ${decision.rule ?? 'unlabelled'}, pattern ${decision.pattern}).`, requestableUnder: [] };
    }
    const requestableUnder = user ? this.requestableUnder(user, server.name, subject) : [];
    return { ...answer(decision), summary: refusalSummary(decision, grants.length, requestableUnder), requestableUnder };
  }

  /** The person asked about and their live grants on the server. */
  private async subjectOf(caller: Principal, userId: string | null, server: string): Promise<{ user: UserIdentity | null; grants: GrantRecord[] }> {
    const self = userId === null || userId === caller.user.id;
    if (!self && !this.deps.policy.isAuditor(caller)) throw new NotFoundError('user');
    const id = self ? caller.user.id : userId;
    const now = this.deps.clock.now();
    const listed = (await this.deps.store.listGrants({ userId: id, limit: GRANTS_READ })).map((l) => l.record);
    // Another person's groups are known from their newest access record (there is no user directory).
    const user = self ? caller.user : (listed[0]?.user ?? (await this.deps.store.listRequests({ requesterId: id, limit: 1 }))[0]?.record.requester ?? null);
    return { user, grants: listed.filter((g) => g.server === server && grantStatus(g, now) === 'ACTIVE') };
  }

  /** A method no name decides: housekeeping rides on any grant; anything else only where the operator allows it. */
  private sessionLevel(server: McpServerConfig, method: string, grants: CompiledGrant[]): Explanation {
    const known = SESSION_METHODS.has(method) || server.allowMethods.includes(method);
    const base = { grantId: grants[0]?.id ?? null, rule: grants[0]?.rule ?? null, pattern: null, argumentPath: null, requestableUnder: [] };
    if (!known) return { ...base, allowed: false, reason: 'method_not_granted', clause: 'unknown_method', grantId: null, rule: null, summary: `${method} is not an MCP method, and ${server.name} does not allow it (servers[].allowMethods).` };
    if (grants.length === 0) return { ...base, allowed: false, reason: 'tool_not_granted', clause: 'no_grant', summary: `No active grant on ${server.name}: a session cannot open.` };
    return { ...base, allowed: true, reason: null, clause: 'allowed', summary: `${method} rides on any active grant on ${server.name}.` };
  }

  /** Rules of the person's roles under which a grant would allow the subject. */
  private requestableUnder(user: UserIdentity, server: string, subject: Subject): string[] {
    const holder = { roles: rolesOf(user, this.deps.config.roles) };
    return this.deps.policy
      .requestRules(holder, server)
      .filter((rule) => {
        // A rule as the grant it would make (read-only tools cannot be known without the server: counted as requestable).
        const asGrant = new CompiledGrant({ ...rule, id: rule.label, rule: rule.label, expiresAt: Infinity, readOnly: false, readOnlyTools: null, arguments: argumentsOf(rule) });
        return asGrant.decide(subject).allowed;
      })
      .map((rule) => rule.label);
  }
}

function subjectFor(kind: Subject['kind'] | 'completion', name: string, args: unknown): Subject {
  switch (kind) {
    case 'tool':
      // No upstream is read here: a tool a read-only grant lists is taken as still read-only (a session checks
      // the definition it is shown).
      return { kind, name, arguments: args, writable: false };
    case 'prompt':
      return { kind, name };
    case 'resource':
      return { kind, uri: name };
    case 'resourceTemplate':
      return { kind, uriTemplate: name };
    case 'completion':
      // A completion is for a prompt (by name) or a resource template (by URI).
      return /^[A-Za-z][A-Za-z0-9+.-]*:/.test(name) ? { kind: 'resourceTemplate', uriTemplate: name } : { kind: 'prompt', name };
  }
}

function answer(decision: Decision): Omit<Explanation, 'summary' | 'requestableUnder'> {
  if (decision.allowed) return { allowed: true, reason: null, clause: 'allowed', grantId: decision.grantId, rule: decision.rule, pattern: decision.pattern, argumentPath: null };
  return { allowed: false, reason: decision.reason, clause: decision.clause, grantId: decision.grantId, rule: decision.rule, pattern: decision.pattern, argumentPath: decision.path ?? null };
}

function refusalSummary(decision: Decision & { allowed: false }, grantCount: number, requestable: string[]): string {
  const where = decision.grantId ? `grant ${decision.grantId} (rule ${decision.rule ?? 'unlabelled'})` : grantCount === 0 ? 'no active grant on this server' : 'no active grant';
  const why: Record<string, string> = {
    name_not_grantable: `the name can never be granted: ${decision.detail ?? 'not a plain name'}`,
    not_in_grant: `${where} does not cover it`,
    denied_by_pattern: `${where} excludes it by the pattern ${decision.pattern ?? ''}`,
    not_read_only: `${where} is read-only and this tool was not read-only when it was granted`,
    argument_rule: `${where} does not allow argument ${decision.path ?? '/'} (${decision.keyword ?? 'schema'})`,
  };
  const next = requestable.length > 0 ? ` It can be requested under ${requestable.join(', ')}.` : ' None of your request rules covers it.';
  return `Refused: ${why[decision.clause] ?? decision.clause}.${decision.clause === 'name_not_grantable' ? '' : next}`;
}
