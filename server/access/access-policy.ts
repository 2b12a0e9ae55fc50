import type { PortcullisConfig, RoleConfig } from '../config/schema.js';
import { AccessDeniedError, InvalidInputError } from '../errors.js';
import { patternCovers } from './tool-patterns.js';

type RequestRule = RoleConfig['request'][number];
type ReviewRule = RoleConfig['review'][number];

const TOOL_PATTERN = /^[A-Za-z0-9_.*-]{1,128}$/;
const MAX_TOOLS = 50;

/** Who holds a role: enough to apply the config's rules to a caller or a stored user. */
export interface RoleHolder {
  roles: readonly string[];
}

/** What a request will grant, once the rule that allows it has been found. */
export interface RequestPlan {
  tools: string[];
  denyTools: string[];
  autoApprove: boolean;
}

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

  requestRules(holder: RoleHolder, server: string): RequestRule[] {
    return this.rolesOf(holder).flatMap((role) => role.request.filter((rule) => rule.server === server));
  }

  reviewRules(holder: RoleHolder, server: string): ReviewRule[] {
    return this.rolesOf(holder).flatMap((role) => role.review.filter((rule) => rule.server === server));
  }

  /**
   * Finds the one rule that allows the whole request: every requested pattern inside the
   * rule's `tools` and not inside its `denyTools`, the duration within its maximum.
   * With named tools, auto-approving rules are tried first: an operator who made a narrow
   * rule automatic means requests that fit it to be. Omitted tools ask for everything
   * requestable: the tools of the first rule (in config order) whose maximum fits.
   */
  planRequest(holder: RoleHolder, input: { server: string; tools?: readonly string[] | null; durationSeconds: number }): RequestPlan {
    if (!this.serverExists(input.server)) throw new AccessDeniedError('UNKNOWN_SERVER', `unknown MCP server "${input.server.slice(0, 64)}"`);
    if (!Number.isInteger(input.durationSeconds) || input.durationSeconds <= 0) throw new InvalidInputError('durationSeconds must be a positive integer');
    const tools = input.tools == null ? null : normalizeTools(input.tools);
    const inOrder = this.requestRules(holder, input.server);
    const rules = tools === null ? inOrder : [...inOrder].sort((a, b) => Number(b.autoApprove) - Number(a.autoApprove));
    if (rules.length === 0) throw new AccessDeniedError('TOOL_NOT_REQUESTABLE', `your roles allow no requests for "${input.server}"`);

    const fitting = tools === null ? rules : rules.filter((rule) => tools.every((tool) => allows(rule, tool)));
    if (fitting.length === 0) {
      const refused = tools!.find((tool) => !rules.some((rule) => allows(rule, tool)));
      throw new AccessDeniedError(
        'TOOL_NOT_REQUESTABLE',
        refused ? `tool pattern "${refused}" is not requestable on "${input.server}"` : `no single rule allows all of these tools on "${input.server}"`,
      );
    }
    const rule = fitting.find((r) => input.durationSeconds <= r.maxDurationSeconds);
    if (!rule) {
      const longest = Math.max(...fitting.map((r) => r.maxDurationSeconds));
      throw new AccessDeniedError('DURATION_TOO_LONG', `durationSeconds ${input.durationSeconds} exceeds the ${longest} s allowed for this request`);
    }
    return { tools: tools ?? [...rule.tools], denyTools: [...rule.denyTools], autoApprove: rule.autoApprove };
  }

  /** Whether `holder`'s review rules cover every pattern of a request on `server`. */
  mayReview(holder: RoleHolder, request: { server: string; tools: readonly string[] }): boolean {
    const rules = this.reviewRules(holder, request.server);
    return request.tools.every((tool) => rules.some((rule) => rule.tools.some((pattern) => patternCovers(pattern, tool))));
  }

  /** Patterns `holder` may request on `server` (what `mcpServers` shows). */
  requestableTools(holder: RoleHolder, server: string): string[] {
    return unique(this.requestRules(holder, server).flatMap((rule) => rule.tools));
  }

  reviewableTools(holder: RoleHolder, server: string): string[] {
    return unique(this.reviewRules(holder, server).flatMap((rule) => rule.tools));
  }

  private rolesOf(holder: RoleHolder): RoleConfig[] {
    return holder.roles.flatMap((name) => this.roles.get(name) ?? []);
  }
}

function allows(rule: RequestRule, tool: string): boolean {
  return rule.tools.some((pattern) => patternCovers(pattern, tool)) && !rule.denyTools.some((pattern) => patternCovers(pattern, tool));
}

function normalizeTools(tools: readonly string[]): string[] {
  if (tools.length === 0) throw new InvalidInputError('tools, when given, must name at least one tool pattern');
  if (tools.length > MAX_TOOLS) throw new InvalidInputError(`at most ${MAX_TOOLS} tool patterns`);
  for (const tool of tools) {
    if (!TOOL_PATTERN.test(tool)) throw new InvalidInputError(`invalid tool pattern "${tool.slice(0, 64)}": letters, digits, "_", "-", "." and "*", 1-128 characters`);
  }
  return unique(tools);
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}
