import { byCaller } from '../audit/client-address.js';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import { ForbiddenError, InvalidInputError, NotFoundError } from '../errors.js';
import type { ApiTokenRecord, ApiTokenScope, ApiTokenStore } from '../stores/types.js';
import type { CredentialEvents } from './credential-events.js';
import { issueCredential, parseCredential, secretMatches } from './credentials.js';
import { API_TOKEN_SCOPES } from './principal.js';
import type { Principal, Principals } from './principal.js';

const TOKEN_PREFIX = 'pcl';
const MAX_NAME_LENGTH = 100;

/** API tokens: a user's bearer credentials for the API, the broker and the audit feed. */
export class ApiTokenService {
  constructor(
    private readonly deps: { tokens: ApiTokenStore; audit: AuditLog; clock: Clock; principals: Principals; maxTtlSeconds: number; events: CredentialEvents },
  ) {}

  get maxTtlSeconds(): number {
    return this.deps.maxTtlSeconds;
  }

  /**
   * Issues a token acting as the caller. A token may only be minted with scopes the
   * caller's own credential holds, so a narrow token cannot widen itself.
   */
  async create(caller: Principal, input: { name: string; scopes: string[]; ttlSeconds: number }): Promise<{ token: string; record: ApiTokenRecord }> {
    requireScope(caller, 'api');
    const name = input.name.trim();
    if (name.length === 0 || name.length > MAX_NAME_LENGTH) throw new InvalidInputError(`name must be 1 to ${MAX_NAME_LENGTH} characters`, 'name');
    const scopes = [...new Set(input.scopes)];
    if (scopes.length === 0) throw new InvalidInputError(`scopes must name at least one of ${API_TOKEN_SCOPES.join(', ')}`, 'scopes');
    for (const scope of scopes) {
      if (!isScope(scope)) throw new InvalidInputError(`unknown scope "${scope.slice(0, 40)}"; use ${API_TOKEN_SCOPES.join(', ')}`, 'scopes');
      if (!caller.scopes.has(scope)) throw new ForbiddenError(`this credential cannot grant scope "${scope}" it does not hold`, 'scopes');
    }
    if (!Number.isInteger(input.ttlSeconds) || input.ttlSeconds <= 0 || input.ttlSeconds > this.deps.maxTtlSeconds) {
      throw new InvalidInputError(`ttlSeconds must be between 1 and ${this.deps.maxTtlSeconds}`, 'ttlSeconds');
    }
    const credential = issueCredential(TOKEN_PREFIX);
    const now = this.deps.clock.now();
    const record: ApiTokenRecord = {
      id: credential.id,
      name,
      user: caller.user,
      scopes: scopes as ApiTokenScope[],
      secretHash: credential.secretHash,
      createdAt: now,
      expiresAt: now + input.ttlSeconds * 1000,
    };
    await this.deps.audit.append(byCaller(caller, {
      type: 'auth.token.created',
      outcome: 'SUCCESS',
      data: { tokenId: record.id, name, scopes: record.scopes, expiresAt: new Date(record.expiresAt).toISOString() },
    }));
    await this.deps.tokens.create(record);
    return { token: credential.value, record };
  }

  async list(caller: Principal): Promise<ApiTokenRecord[]> {
    requireScope(caller, 'api');
    return this.deps.tokens.listByUser(caller.user.id);
  }

  async revoke(caller: Principal, id: string): Promise<ApiTokenRecord> {
    requireScope(caller, 'api');
    const token = await this.deps.tokens.get(id);
    if (!token || token.user.id !== caller.user.id) throw new NotFoundError('API token');
    await this.deps.audit.append(byCaller(caller, { type: 'auth.token.revoked', outcome: 'SUCCESS', data: { tokenId: id, name: token.name } }));
    const removed = await this.deps.tokens.delete(id);
    if (!removed) throw new NotFoundError('API token');
    // Every MCP session and subscription opened with it closes, on every instance.
    this.deps.events.ended({ kind: 'token', id, reason: 'revoked' });
    return removed;
  }

  /**
   * Revokes every token of a user the IdP deprovisioned (server/scim), as the system: the
   * actor is null, the data says why. How many there were.
   */
  async revokeAllOf(userId: string, data: Record<string, unknown>): Promise<number> {
    const tokens = await this.deps.tokens.listByUser(userId);
    for (const token of tokens) {
      await this.deps.audit.append({ type: 'auth.token.revoked', outcome: 'SUCCESS', actor: null, data: { tokenId: token.id, name: token.name, user: token.user.email, ...data } });
      if (await this.deps.tokens.delete(token.id)) this.deps.events.ended({ kind: 'token', id: token.id, reason: 'deprovisioned' });
    }
    return tokens.length;
  }

  /** Is the token still there, and its user still someone? (Live connections re-check, since bus events can be lost.) */
  async isLive(tokenId: string): Promise<boolean> {
    const token = await this.deps.tokens.get(tokenId);
    return token !== null && (await this.deps.principals.current(token.user, token.createdAt)) !== null;
  }

  async resolve(bearer: string): Promise<Principal | null> {
    const parsed = parseCredential(TOKEN_PREFIX, bearer);
    if (!parsed) return null;
    const token = await this.deps.tokens.get(parsed.id);
    if (!token || !secretMatches(parsed.secret, token.secretHash)) return null;
    return this.deps.principals.of(token.user, new Set(token.scopes), { kind: 'token', id: token.id, expiresAt: token.expiresAt }, token.createdAt);
  }
}

export function requireScope(caller: Principal, scope: ApiTokenScope): void {
  if (!caller.scopes.has(scope)) throw new ForbiddenError(`this token lacks the "${scope}" scope`);
}

function isScope(value: string): value is ApiTokenScope {
  return (API_TOKEN_SCOPES as readonly string[]).includes(value);
}
