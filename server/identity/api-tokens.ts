import { byCaller } from '../audit/client-address.js';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import { ForbiddenError, InvalidInputError, NotFoundError, UnauthenticatedError } from '../errors.js';
import type { ApiTokenOrigin, ApiTokenRecord, ApiTokenScope, ApiTokenStore } from '../stores/types.js';
import type { CredentialEvents } from './credential-events.js';
import { issueCredential, parseCredential, secretMatches } from './credentials.js';
import { API_TOKEN_SCOPES } from './principal.js';
import type { Principal, Principals } from './principal.js';

const TOKEN_PREFIX = 'pcl';
const MAX_NAME_LENGTH = 100;

interface TokenInput {
  name: string;
  scopes: string[];
  ttlSeconds: number;
}

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
   * caller's own credential holds, so a narrow token cannot widen itself, and ends no later
   * than the API token that mints it, so a stolen short-lived token cannot persist itself
   * as a long-lived one. Only a browser session, or a token `portcullis login` traded for
   * one (createForLogin), mints up to apiTokens.maxTtlSeconds.
   */
  async create(caller: Principal, input: TokenInput): Promise<{ token: string; record: ApiTokenRecord }> {
    requireScope(caller, 'api');
    return this.issue(caller, input, 'minted', await this.latestExpiryFor(caller));
  }

  /**
   * The token `portcullis login` trades a browser sign-in for (server/identity/cli-login.ts):
   * it stands for that sign-in, so it may mint tokens that outlive it, as the README's
   * `portcullis token create --ttl 30d` for a SIEM does.
   */
  async createForLogin(session: Principal, input: TokenInput): Promise<{ token: string; record: ApiTokenRecord }> {
    if (session.credential.kind !== 'session') throw new UnauthenticatedError('a CLI login token is issued for a browser session');
    return this.issue(session, input, 'login', null);
  }

  /**
   * Until when a token the caller mints may live (null: up to maxTtlSeconds). A longer
   * ttlSeconds is cut to it, not refused: a script minting a token as long-lived as its own
   * a moment later would otherwise always fail by those moments; the answer's expiresAt
   * (and the CLI's "expires ...") says when the token ends.
   */
  private async latestExpiryFor(caller: Principal): Promise<number | null> {
    switch (caller.credential.kind) {
      case 'session':
        return null;
      case 'token': {
        // Read again rather than trusted from the principal: a token revoked since it was resolved mints nothing.
        const token = await this.deps.tokens.get(caller.credential.id);
        if (!token) throw new UnauthenticatedError('this API token is no longer valid');
        return token.origin === 'login' ? null : token.expiresAt;
      }
      // An OAuth authorization is a client's access to MCP, and a chat integration acts for
      // one button press: neither is a sign-in to hand a lasting credential to.
      case 'oauth':
      case 'integration':
        throw new ForbiddenError('API tokens are created from a browser session or with an API token');
    }
  }

  private async issue(caller: Principal, input: TokenInput, origin: ApiTokenOrigin, latestExpiry: number | null): Promise<{ token: string; record: ApiTokenRecord }> {
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
    const now = this.deps.clock.now();
    // The minting token lapsed between its re-read and now: it mints nothing, not a dead token.
    if (latestExpiry !== null && latestExpiry <= now) throw new UnauthenticatedError('this API token is no longer valid');
    const asked = now + input.ttlSeconds * 1000;
    const expiresAt = latestExpiry === null ? asked : Math.min(asked, latestExpiry);
    const credential = issueCredential(TOKEN_PREFIX);
    const record: ApiTokenRecord = {
      id: credential.id,
      name,
      user: caller.user,
      scopes: scopes as ApiTokenScope[],
      secretHash: credential.secretHash,
      createdAt: now,
      expiresAt,
      origin,
    };
    await this.deps.audit.append(byCaller(caller, {
      type: 'auth.token.created',
      outcome: 'SUCCESS',
      data: { tokenId: record.id, name, scopes: record.scopes, expiresAt: new Date(record.expiresAt).toISOString(), origin },
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
