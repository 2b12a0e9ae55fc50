import { isDeepStrictEqual } from 'node:util';
import type { PortcullisConfig, RoleConfig } from '../config/schema.js';
import { AccessDeniedError, InvalidInputError } from '../errors.js';
import { sameEmail } from '../identity/email-key.js';
import { rolesOf } from '../identity/principal.js';
import type { UserIdentity } from '../stores/types.js';
import { argumentRulesByFoldedName } from './argument-rules.js';
import { patternCovers, patternsOverlap } from './tool-patterns.js';
import type { AccessScope } from './types.js';

type RequestRule = RoleConfig['request'][number];
/** A request rule with the label grants carry (`<role>/request/<index>`), so a refusal can name it. */
type LabeledRule = RequestRule & { label: string };
type ReviewRule = RoleConfig['review'][number];

/** What a grant allows, by kind: each has its patterns and the patterns its rule excludes. */
export const SCOPE_KINDS = [
  { kind: 'tools', deny: 'denyTools', what: 'tool', pattern: /^[A-Za-z0-9_.*-]{1,128}$/, rule: 'letters, digits, "_", "-", "." and "*", 1-128 characters' },
  { kind: 'resources', deny: 'denyResources', what: 'resource URI', pattern: /^[\x21-\x7e]{1,2048}$/, rule: 'printable characters without spaces, "*" as a wildcard, 1-2048 characters' },
  { kind: 'prompts', deny: 'denyPrompts', what: 'prompt', pattern: /^[\x21-\x7e]{1,128}$/, rule: 'printable characters without spaces, "*" as a wildcard, 1-128 characters' },
] as const;

export type ScopeKind = (typeof SCOPE_KINDS)[number]['kind'];
const MAX_PATTERNS = 50;

/** Who holds a role: enough to apply the config's rules to a caller or a stored user. */
export interface RoleHolder {
  roles: readonly string[];
}

/** What a request asks for on its server (each kind omitted: what the rule offers). */
export interface RequestAsk {
  server: string;
  tools?: readonly string[] | null;
  resources?: readonly string[] | null;
  prompts?: readonly string[] | null;
  /** A read-only request narrows a rule that is not; it cannot widen one that is. */
  readOnly?: boolean | null;
  durationSeconds: number;
}

/** What a request will grant, once the rule that allows it has been found. */
export type RequestPlan = AccessScope & { autoApprove: boolean };

/**
 * The config's roles applied to people: what they may request, review and read. Pure:
 * no store, no clock; the service asks it and enforces the answer.
 */
export class AccessPolicy {
  private readonly roles: ReadonlyMap<string, RoleConfig>;

  constructor(private readonly config: Pick<PortcullisConfig, 'roles' | 'servers' | 'approvals'>) {
    this.roles = new Map(config.roles.map((role) => [role.name, role]));
  }

  serverExists(server: string): boolean {
    return this.config.servers.some((s) => s.name === server);
  }

  isAuditor(holder: RoleHolder): boolean {
    return this.rolesOf(holder).some((role) => role.audit);
  }

  requestRules(holder: RoleHolder, server: string): LabeledRule[] {
    return this.rolesOf(holder).flatMap((role) => role.request.flatMap((rule, i) => (rule.server === server ? [{ ...rule, label: `${role.name}/request/${i}` }] : [])));
  }

  reviewRules(holder: RoleHolder, server: string): ReviewRule[] {
    return this.rolesOf(holder).flatMap((role) => role.review.filter((rule) => rule.server === server));
  }

  /**
   * Finds the one rule that allows the whole request: every requested pattern of every
   * kind inside the rule's patterns and outside its deny patterns, the duration within its
   * maximum. With anything named, auto-approving rules are tried first: an operator who made
   * a narrow rule automatic means requests that fit it to be. A kind left out asks for what
   * the rule offers of it (a rule that names no resources grants none).
   */
  planRequest(holder: RoleHolder, input: RequestAsk): RequestPlan {
    if (!this.serverExists(input.server)) throw new AccessDeniedError('UNKNOWN_SERVER', `unknown MCP server "${input.server.slice(0, 64)}"`, 'server');
    if (!Number.isInteger(input.durationSeconds) || input.durationSeconds <= 0) throw new InvalidInputError('durationSeconds must be a positive integer', 'durationSeconds');
    const asked = Object.fromEntries(SCOPE_KINDS.map(({ kind }) => [kind, normalize(kind, input[kind])])) as Record<ScopeKind, string[] | null>;
    const named = SCOPE_KINDS.some(({ kind }) => asked[kind] !== null);
    const inOrder = this.requestRules(holder, input.server);
    const rules = named ? [...inOrder].sort((a, b) => Number(b.autoApprove) - Number(a.autoApprove)) : inOrder;
    if (rules.length === 0) throw new AccessDeniedError('TOOL_NOT_REQUESTABLE', `your roles allow no requests for "${input.server}"`, 'server');

    const fits = (rule: RequestRule) => SCOPE_KINDS.every(({ kind }) => (asked[kind] ?? []).every((pattern) => allows(rule, kind, pattern)));
    const fitting = rules.filter(fits);
    if (fitting.length === 0) {
      for (const { kind, what } of SCOPE_KINDS) {
        const refused = (asked[kind] ?? []).find((pattern) => !rules.some((rule) => allows(rule, kind, pattern)));
        if (refused) throw new AccessDeniedError('TOOL_NOT_REQUESTABLE', `${what} pattern "${refused.slice(0, 128)}" is not requestable on "${input.server}"`, kind);
      }
      throw new AccessDeniedError('TOOL_NOT_REQUESTABLE', `no single rule allows all of this on "${input.server}"`);
    }
    const rule = fitting.find((r) => input.durationSeconds <= r.maxDurationSeconds);
    if (!rule) {
      const longest = Math.max(...fitting.map((r) => r.maxDurationSeconds));
      throw new AccessDeniedError('DURATION_TOO_LONG', `durationSeconds ${input.durationSeconds} exceeds the ${longest} s allowed for this request`, 'durationSeconds');
    }
    const plan: RequestPlan = {
      rule: rule.label,
      tools: asked.tools ?? [...rule.tools],
      denyTools: [...rule.denyTools],
      resources: asked.resources ?? [...rule.resources],
      denyResources: [...rule.denyResources],
      prompts: asked.prompts ?? [...rule.prompts],
      denyPrompts: [...rule.denyPrompts],
      readOnly: rule.readOnly || input.readOnly === true,
      arguments: argumentsOf(rule),
      autoApprove: rule.autoApprove,
    };
    // A request for nothing would be reviewable by anyone (every pattern of it is covered) and open a session all the same.
    if (SCOPE_KINDS.every(({ kind }) => plan[kind].length === 0)) throw new InvalidInputError(`the request names no tool, resource or prompt of "${input.server}"`, 'tools');
    return plan;
  }

  /** Who a stored user (a requester, a grant's holder) is to the config's roles, as they stand now. */
  holderOf(user: UserIdentity): RoleHolder {
    return { roles: rolesOf(user, this.config.roles) };
  }

  /**
   * Whether `holder` could be granted all a grant (or a request) allows for `seconds` more:
   * one of their request rules on its server allows every pattern of every kind in it,
   * excludes nothing it leaves allowed, holds its tools to every argument rule the rule
   * sets, is read-only only if it is, and lasts that long. A grant whose holder lost every
   * such rule has lost its basis; a request, its approvability.
   */
  founds(holder: RoleHolder, scope: { server: string } & Omit<AccessScope, 'rule'>, seconds: number): boolean {
    // In any case, as calls are held to them (grant-decision.ts).
    const carried = argumentRulesByFoldedName(scope.arguments);
    return this.requestRules(holder, scope.server).some(
      (rule) =>
        (scope.readOnly || !rule.readOnly) &&
        seconds <= rule.maxDurationSeconds &&
        SCOPE_KINDS.every(({ kind, deny }) => scope[kind].every((pattern) => allows(rule, kind, pattern)) && rule[deny].every((excluded) => excludes(scope, kind, deny, excluded))) &&
        Object.entries(rule.arguments).every(([tool, schema]) => !scope.tools.some((p) => patternsOverlap(p.toLowerCase(), tool.toLowerCase())) || (carried.get(tool.toLowerCase()) ?? []).some((own) => isDeepStrictEqual(own, schema))),
    );
  }

  /** Whether `holder`'s review rules on the request's server cover every pattern of it, of every kind (none: nobody reviews it). */
  mayReview(holder: RoleHolder, request: { server: string } & Pick<AccessScope, ScopeKind>): boolean {
    const rules = this.reviewRules(holder, request.server);
    return rules.length > 0 && SCOPE_KINDS.every(({ kind }) => (request[kind] ?? []).every((asked) => rules.some((rule) => rule[kind].some((pattern) => patternCovers(pattern, asked)))));
  }

  /** The roles whose review rules cover a request on their own. */
  reviewerRoles(request: { server: string } & Pick<AccessScope, ScopeKind>): RoleConfig[] {
    return this.config.roles.filter((role) => this.mayReview({ roles: [role.name] }, request));
  }

  /**
   * The addresses the config names for a request: the `members.emails` of every role whose
   * review rules cover it, the requester left out (no self-review). Members by group are
   * found in the user directory (server/notifications/reviewer-recipients.ts).
   */
  reviewerEmails(request: { server: string; requester: string } & Pick<AccessScope, ScopeKind>): string[] {
    return [...new Set(this.reviewerRoles(request).flatMap((role) => role.members.emails))].filter((email) => !sameEmail(email, request.requester));
  }

  /** The longest duration `holder` may request on `server`; null when nothing is requestable there. */
  maxDurationSeconds(holder: RoleHolder, server: string): number | null {
    const rules = this.requestRules(holder, server);
    return rules.length === 0 ? null : Math.max(...rules.map((rule) => rule.maxDurationSeconds));
  }

  /** Whether `holder` has business with `server`: may request or review on it, or is an auditor. */
  concerns(holder: RoleHolder, server: string): boolean {
    return this.isAuditor(holder) || this.requestRules(holder, server).length > 0 || this.reviewRules(holder, server).length > 0;
  }

  /** Whether `holder` may review requests on some server. */
  reviewsAnywhere(holder: RoleHolder): boolean {
    return this.config.servers.some((server) => this.reviewRules(holder, server.name).length > 0);
  }

  /** Patterns of one kind `holder` may request on `server` (what `mcpServers` shows). */
  requestable(holder: RoleHolder, server: string, kind: ScopeKind): string[] {
    return unique(this.requestRules(holder, server).flatMap((rule) => rule[kind]));
  }

  reviewable(holder: RoleHolder, server: string, kind: ScopeKind): string[] {
    return unique(this.reviewRules(holder, server).flatMap((rule) => rule[kind]));
  }

  private rolesOf(holder: RoleHolder): RoleConfig[] {
    return holder.roles.flatMap((name) => this.roles.get(name) ?? []);
  }
}

/** A rule's argument rules as a grant carries them: per tool, the schemas a call must satisfy. */
export function argumentsOf(rule: RequestRule): AccessScope['arguments'] {
  return Object.fromEntries(Object.entries(rule.arguments).map(([tool, schema]) => [tool, [schema]]));
}

/**
 * Whether a scope allows nothing a rule's deny pattern excludes: it excludes that too, or
 * none of its patterns reaches it. Deny patterns exclude without regard to case, as the
 * broker applies them (grant-decision.ts): compared in lower case.
 */
function excludes(scope: Omit<AccessScope, 'rule'>, kind: ScopeKind, deny: (typeof SCOPE_KINDS)[number]['deny'], excluded: string): boolean {
  const lower = excluded.toLowerCase();
  return scope[deny].some((own) => patternCovers(own.toLowerCase(), lower)) || !scope[kind].some((pattern) => patternsOverlap(pattern.toLowerCase(), lower));
}

function allows(rule: RequestRule, kind: ScopeKind, pattern: string): boolean {
  const deny = SCOPE_KINDS.find((k) => k.kind === kind)!.deny;
  return rule[kind].some((p) => patternCovers(p, pattern)) && !rule[deny].some((p) => patternCovers(p.toLowerCase(), pattern.toLowerCase()));
}

/** A requested kind's patterns, checked; null when the request leaves the kind to its rule. */
function normalize(kind: ScopeKind, patterns: readonly string[] | null | undefined): string[] | null {
  if (patterns == null) return null;
  const { what, pattern, rule } = SCOPE_KINDS.find((k) => k.kind === kind)!;
  // An empty list of tools was always refused (it asks for nothing); resources and prompts may be asked for none.
  if (kind === 'tools' && patterns.length === 0) throw new InvalidInputError('tools, when given, must name at least one tool pattern', kind);
  if (patterns.length > MAX_PATTERNS) throw new InvalidInputError(`at most ${MAX_PATTERNS} ${what} patterns`, kind);
  for (const p of patterns) {
    if (!pattern.test(p)) throw new InvalidInputError(`invalid ${what} pattern "${p.slice(0, 64)}": ${rule}`, kind);
  }
  return unique(patterns);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
