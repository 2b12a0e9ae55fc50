import type { ArgumentCheck } from './argument-rules.js';
import { argumentRulesByFoldedName, compileArgumentRules } from './argument-rules.js';
import { compileToolPattern, isToolName } from './tool-patterns.js';
import type { AccessScope, GrantRecord } from './types.js';

/** What a decision reads of a grant (a request rule, seen as the grant it would make, has it too). */
export type GrantTerms = AccessScope & Pick<GrantRecord, 'id' | 'expiresAt' | 'readOnlyTools'>;

/** What one MCP message touches on its server, as grants see it. */
export type Subject =
  /**
   * A tool: to list it (no arguments) or to call it (its arguments, checked against the
   * grant's rules). `writable`: whether its definition, as the session was shown it, is not
   * read-only now (undefined: not known). A read-only grant covers only a tool known to be
   * read-only now, whatever it was when the grant was issued.
   */
  | { kind: 'tool'; name: string; arguments?: unknown; writable?: boolean }
  | { kind: 'resource'; uri: string }
  /** A resource template (listed, or completed for), matched as written against resource patterns. */
  | { kind: 'resourceTemplate'; uriTemplate: string }
  | { kind: 'prompt'; name: string };

/**
 * Why a grant does not allow a subject, most telling last: a refusal names the clause of
 * the grant that came closest to allowing it.
 */
export const CLAUSES = ['name_not_grantable', 'not_in_grant', 'denied_by_pattern', 'not_read_only', 'argument_rule'] as const;
export type Clause = (typeof CLAUSES)[number];

export type RefusalReason = 'tool_not_granted' | 'resource_not_granted' | 'prompt_not_granted' | 'argument_not_allowed';

export interface Allowed {
  allowed: true;
  grantId: string;
  /** The config rule the grant was made under (null for grants older than rule labels). */
  rule: string | null;
  pattern: string;
}

export interface Refused {
  allowed: false;
  reason: RefusalReason;
  clause: Clause;
  /** The grant that came closest, and its rule (null when no grant matched the name at all). */
  grantId: string | null;
  rule: string | null;
  /** The pattern that decided: the deny pattern that matched, or the allow pattern a later clause refused under. */
  pattern: string | null;
  /** For name_not_grantable: what is wrong with the name or URI. */
  detail?: string;
  /** For argument_rule: the argument's JSON pointer and the schema keyword it failed (never its value). */
  path?: string;
  keyword?: string;
}

export type Decision = Allowed | Refused;

interface Matcher {
  pattern: string;
  matches: (value: string) => boolean;
}

interface PatternSet {
  allow: Matcher[];
  /** Deny patterns match without regard to ASCII case: a look-alike spelling must not slip past an exclusion. */
  deny: Matcher[];
}

/**
 * A grant compiled once for deciding messages: its patterns as matchers, its read-only
 * tools as a set, its argument rules as validators (ajv compiles per grant, never per call).
 */
export class CompiledGrant {
  readonly id: string;
  readonly rule: string | null;
  readonly expiresAt: number;
  private readonly tools: PatternSet;
  private readonly resources: PatternSet;
  private readonly prompts: PatternSet;
  private readonly readOnlyTools: ReadonlySet<string> | null;
  private readonly argumentChecks: ReadonlyMap<string, ArgumentCheck>;

  constructor(grant: GrantTerms) {
    this.id = grant.id;
    this.rule = grant.rule ?? null;
    this.expiresAt = grant.expiresAt;
    this.tools = patternSet(grant.tools, grant.denyTools);
    this.resources = patternSet(grant.resources, grant.denyResources);
    this.prompts = patternSet(grant.prompts, grant.denyPrompts);
    this.readOnlyTools = grant.readOnly ? new Set(grant.readOnlyTools ?? []) : null;
    this.argumentChecks = new Map([...argumentRulesByFoldedName(grant.arguments)].map(([tool, schemas]) => [tool, compileArgumentRules(schemas)]));
  }

  /** Whether it covers read-only tools only. */
  get readOnly(): boolean {
    return this.readOnlyTools !== null;
  }

  decide(subject: Subject): Decision {
    switch (subject.kind) {
      case 'tool':
        return this.decideTool(subject.name, subject.arguments, subject.writable);
      case 'resource':
        return this.matchUri(subject.uri);
      case 'resourceTemplate':
        return this.match(this.resources, subject.uriTemplate, 'resource_not_granted');
      case 'prompt':
        return this.match(this.prompts, subject.name, 'prompt_not_granted');
    }
  }

  private decideTool(name: string, args: unknown, writable: boolean | undefined): Decision {
    const matched = this.match(this.tools, name, 'tool_not_granted');
    if (!matched.allowed) return matched;
    const refused = { allowed: false, grantId: this.id, rule: this.rule, pattern: matched.pattern } as const;
    if (this.readOnlyTools && (writable !== false || !this.readOnlyTools.has(name))) return { ...refused, reason: 'tool_not_granted', clause: 'not_read_only' };
    const check = args === undefined ? undefined : this.argumentChecks.get(name.toLowerCase());
    const checked = check?.(args);
    if (checked && !checked.ok) return { ...refused, reason: 'argument_not_allowed', clause: 'argument_rule', path: checked.path, keyword: checked.keyword };
    return matched;
  }

  /**
   * A URI's query and fragment can spell whatever a pattern ends in (`secret.txt?.md`,
   * `key.pem#`), and a server reading files drops them: a URI is allowed only when its
   * patterns allow it both as written and without them.
   */
  private matchUri(uri: string): Decision {
    const whole = this.match(this.resources, uri, 'resource_not_granted');
    const end = uri.search(/[?#]/);
    if (end < 0 || !whole.allowed) return whole;
    const bare = this.match(this.resources, uri.slice(0, end), 'resource_not_granted');
    return bare.allowed ? whole : bare;
  }

  private match(set: PatternSet, value: string, reason: RefusalReason): Decision {
    const allowing = set.allow.find((m) => m.matches(value));
    if (!allowing) return { allowed: false, reason, clause: 'not_in_grant', grantId: this.id, rule: this.rule, pattern: null };
    const lowered = value.toLowerCase();
    // Also with encoded slashes decoded: a server that decodes `secret%2Fkey.pem` reads what `…/secret/*` excludes.
    const decoded = lowered.includes('%') ? decodedSlashes(lowered) : lowered;
    const denying = set.deny.find((m) => m.matches(lowered) || (decoded !== lowered && m.matches(decoded)));
    if (denying) return { allowed: false, reason, clause: 'denied_by_pattern', grantId: this.id, rule: this.rule, pattern: denying.pattern };
    return { allowed: true, grantId: this.id, rule: this.rule, pattern: allowing.pattern };
  }
}

function patternSet(allow: readonly string[], deny: readonly string[]): PatternSet {
  return {
    allow: allow.map((pattern) => ({ pattern, matches: compileToolPattern(pattern) })),
    deny: deny.map((pattern) => ({ pattern, matches: compileToolPattern(pattern.toLowerCase()) })),
  };
}

/**
 * A subject some grant allows, or the refusal of the grant that came closest. Names no
 * pattern could spell are refused before any grant sees them: a tool outside MCP's name
 * rule, a prompt name or resource URI outside printable ASCII (Unicode look-alikes), and
 * a URI that is not in its plain form (uriProblem).
 */
export function decide(grants: Iterable<CompiledGrant>, subject: Subject): Decision {
  const unplain = plainProblem(subject);
  if (unplain) return { allowed: false, reason: REASONS[subject.kind], clause: 'name_not_grantable', grantId: null, rule: null, pattern: null, detail: unplain };
  let closest: Refused | null = null;
  for (const grant of grants) {
    const decision = grant.decide(subject);
    if (decision.allowed) return decision;
    if (!closest || CLAUSES.indexOf(decision.clause) > CLAUSES.indexOf(closest.clause)) closest = decision;
  }
  return closest ?? { allowed: false, reason: REASONS[subject.kind], clause: 'not_in_grant', grantId: null, rule: null, pattern: null };
}

const REASONS: Record<Subject['kind'], RefusalReason> = {
  tool: 'tool_not_granted',
  resource: 'resource_not_granted',
  resourceTemplate: 'resource_not_granted',
  prompt: 'prompt_not_granted',
};

/** `%2F` and `%5C` as the separators a decoding server reads them as. */
function decodedSlashes(text: string): string {
  return text.replace(/%2[Ff]|%5[Cc]/g, '/');
}

/** Printable ASCII without spaces: all a prompt name or URI pattern can spell. */
const PLAIN = /^[\x21-\x7e]+$/;
const MAX_URI = 8192;

function plainProblem(subject: Subject): string | null {
  switch (subject.kind) {
    case 'tool':
      return isToolName(subject.name) ? null : 'not an MCP tool name';
    case 'prompt':
      return subject.name.length <= 128 && PLAIN.test(subject.name) ? null : 'not a plain prompt name';
    case 'resource':
      return uriProblem(subject.uri);
    case 'resourceTemplate':
      return subject.uriTemplate.length <= MAX_URI && PLAIN.test(subject.uriTemplate) ? null : 'not a plain URI template';
  }
}

/**
 * Why a resource URI cannot be matched against patterns, or null when it can. Patterns
 * are matched on the URI as written, so only URIs already in their plain form are
 * considered: an upstream that decodes `%2e%2e`, folds a scheme's case or resolves `..`
 * would otherwise read `file:///srv/docs/../../etc/passwd` under `file:///srv/docs/*`.
 */
export function uriProblem(uri: string): string | null {
  if (uri.length > MAX_URI || !PLAIN.test(uri)) return 'not printable ASCII without spaces';
  if (uri.includes('\\')) return 'contains a backslash';
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1];
  if (scheme === undefined) return 'has no scheme';
  if (scheme !== scheme.toLowerCase()) return 'has an upper-case scheme';
  // RFC 3986 6.2.2.2: percent-encoded unreserved characters are the same URI as the characters.
  if (/%(?![0-9A-Fa-f]{2})/.test(uri)) return 'has a malformed percent-encoding';
  if (/%(?:[46][1-9A-Fa-f]|[57][0-9Aa]|3[0-9]|2[DdEe]|5[Ff]|7[Ee])/.test(uri)) return 'percent-encodes a character that needs no encoding';
  const afterScheme = uri.slice(scheme.length + 1);
  const rest = afterScheme.split(/[?#]/, 1)[0]!;
  const separated = (text: string) => decodedSlashes(text).split('/');
  // Anywhere after the scheme: a server may read `notes://../x` as a path under its root, and
  // past a `?` or `#` too: a template's `{+path}` takes `x?/../../etc/passwd` whole, and a
  // server joining it to its root reads outside what the pattern matched.
  if (decodedSlashes(afterScheme).split(/[/?#]/).some((segment) => segment === '.' || segment === '..')) return 'has a dot segment';
  // `/srv//secrets` is `/srv/secrets` to a file system, but not to `file:///srv/secrets/*`.
  // Only in the path, after the authority (`//host`, empty in `file:///srv`).
  const start = rest.startsWith('//') ? rest.indexOf('/', 2) : 0;
  if (start >= 0 && separated(rest.slice(start)).slice(1, -1).includes('')) return 'has an empty path segment';
  return null;
}
