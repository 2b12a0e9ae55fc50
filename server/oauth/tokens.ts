import { createHash, randomBytes } from 'node:crypto';
import { clientAddressData } from '../audit/client-address.js';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import type { CredentialEvents } from '../identity/credential-events.js';
import { NotFoundError, StoreFullError } from '../errors.js';
import { requireScope } from '../identity/api-tokens.js';
import { hashSecret, issueCredential, parseCredential, secretMatches } from '../identity/credentials.js';
import { sameSecret, s256 } from '../identity/pkce.js';
import type { Principal, Principals } from '../identity/principal.js';
import type { OAuthStores } from '../stores/types.js';
import { OAuthError } from './oauth-error.js';
import { MCP_SCOPE } from './resources.js';
import type { McpResources } from './resources.js';
import type { AccessTokenRecord, AuthorizationCodeRecord, OAuthClientRecord, RefreshTokenRecord, TokenFamilyRecord } from './types.js';

export const ACCESS_TOKEN_PREFIX = 'pco';
const REFRESH_TOKEN_PREFIX = 'pcr';
/** Long enough for a redirect and one token request (RFC 6749 §4.1.2: at most 10 minutes). */
const CODE_TTL_MS = 60_000;
/** How long a redeemed code is remembered, so a replay of it can revoke what it bought. */
const REDEEMED_CODE_TTL_MS = 10 * 60_000;
/** RFC 7636 §4.1. */
const VERIFIER = /^[A-Za-z0-9\-._~]{43,128}$/;
const CODE = /^[A-Za-z0-9_-]{43}$/;

/** RFC 6749 §5.1. */
export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

type Params = Record<string, unknown>;

/**
 * Codes, access tokens and rotating refresh tokens (OAuth 2.1 §4.1, §4.3; RFC 9700
 * §4.14), all in the shared store: any instance serves any step, and a revocation is
 * seen by every instance at the next request. Access tokens are opaque and looked up in
 * the store on use, so revocation is immediate; each is bound to one resource (RFC 8707).
 */
export class OAuthTokens {
  constructor(
    private readonly deps: {
      store: OAuthStores;
      audit: AuditLog;
      clock: Clock;
      principals: Principals;
      events: CredentialEvents;
      resources: McpResources;
      config: PortcullisConfig['oauth'];
      /** Is the browser sign-in behind an authorization still live? (Signed out: the authorization ends.) */
      signInIsLive: (loginSessionId: string) => Promise<boolean>;
    },
  ) {}

  /** A one-time code for an approved authorization, stored by its hash. */
  async issueCode(input: Omit<AuthorizationCodeRecord, 'expiresAt'>): Promise<string> {
    const code = randomBytes(32).toString('base64url');
    await this.deps.store.codes.put(hashSecret(code), { ...input, expiresAt: this.deps.clock.now() + CODE_TTL_MS });
    return code;
  }

  /** grant_type=authorization_code (RFC 6749 §4.1.3, RFC 7636 §4.6, RFC 8707 §2.2). */
  async exchangeCode(client: OAuthClientRecord, params: Params, address: string | undefined): Promise<TokenResponse> {
    const from = clientAddressData(address);
    const { code, code_verifier: verifier, redirect_uri: redirectUri } = params;
    if (typeof code !== 'string') throw new OAuthError('invalid_request', 'code is missing');
    if (typeof verifier !== 'string') throw new OAuthError('invalid_request', 'code_verifier is missing (PKCE is required)');
    const key = CODE.test(code) ? hashSecret(code) : null;
    const pending = key ? await this.deps.store.codes.get(key) : null;
    if (!key || !pending) throw await this.replayedCode(key, client, from);
    // Marked redeemed before it is taken, naming the family it buys: an exchange that loses
    // the race for it, like any later replay, finds the mark and revokes that family. The
    // exchange that takes it and is refused buys nothing and takes the mark back, so a retry
    // is of an unknown code, as before.
    await this.deps.store.codes.put(redeemedKey(key), { ...pending, redeemedInto: familyIdOf(key), expiresAt: this.deps.clock.now() + REDEEMED_CODE_TTL_MS });
    const grant = await this.deps.store.codes.take(key);
    if (!grant) throw await this.replayedCode(key, client, from);
    try {
      const refuse = (description: string, reason: string) => this.refused(new OAuthError('invalid_grant', description, reason), grant.user.email, client, from);
      if (grant.clientId !== client.clientId) throw await refuse('the code was issued to another client', 'code_client_mismatch');
      if (redirectUri !== grant.redirectUri) throw await refuse('redirect_uri differs from the authorization request', 'redirect_uri_mismatch');
      if (!VERIFIER.test(verifier) || !sameSecret(s256(verifier), grant.challenge)) throw await refuse('code_verifier does not match the code_challenge', 'pkce_mismatch');
      this.checkResource(params.resource, grant.resource);
      const now = this.deps.clock.now();
      const family: TokenFamilyRecord = {
        id: familyIdOf(key),
        clientId: client.clientId,
        clientName: client.clientName,
        resource: grant.resource,
        scope: grant.scope,
        user: grant.user,
        accessTokens: [],
        loginSessionId: grant.loginSessionId,
        createdAt: now,
        expiresAt: this.familyEnd(grant, now),
      };
      if (family.expiresAt <= now) throw await refuse('the sign-in behind this code has ended', 'session_ended');
      return await this.issue(family, 'oauth.token.issued', from);
    } catch (error) {
      await this.deps.store.codes.take(redeemedKey(key));
      throw error;
    }
  }

  /**
   * A code that is not there: unknown or expired, or used already. A used code presented
   * again means someone else holds it: what it bought is revoked (RFC 6749 §4.1.2).
   */
  private async replayedCode(key: string | null, client: OAuthClientRecord, from: ClientAddress): Promise<OAuthError> {
    const redeemed = key ? await this.deps.store.codes.get(redeemedKey(key)) : null;
    if (!redeemed?.redeemedInto) return new OAuthError('invalid_grant', 'unknown, used or expired code', 'code_unknown');
    const family = await this.deps.store.families.get(redeemed.redeemedInto);
    if (family) await this.revokeFamily(family, 'code_reused', from);
    else {
      // The exchange that took the code may be writing its family now: revoked ahead of it,
      // the write is refused; written in between, it is taken here.
      const written = await this.deps.store.families.take(redeemed.redeemedInto, this.familyEnd(redeemed, this.deps.clock.now()));
      if (written) await this.revokeFamily(written, 'code_reused', from);
    }
    return this.refused(new OAuthError('invalid_grant', 'this code was already used: the tokens issued for it are revoked', 'code_reused'), redeemed.user.email, client, from);
  }

  /** grant_type=refresh_token, rotating (OAuth 2.1 §4.3.1): a refresh token works once; a replay ends its family. */
  async refresh(client: OAuthClientRecord, params: Params, address: string | undefined): Promise<TokenResponse> {
    const from = clientAddressData(address);
    const parsed = typeof params.refresh_token === 'string' ? parseCredential(REFRESH_TOKEN_PREFIX, params.refresh_token) : null;
    if (!parsed) throw new OAuthError('invalid_grant', 'unknown or expired refresh token', 'refresh_token_unknown');
    const stored = await this.refreshToken(parsed);
    if (!stored) throw new OAuthError('invalid_grant', 'unknown or expired refresh token', 'refresh_token_unknown');
    const family = await this.deps.store.families.get(stored.familyId);
    if (!family) throw new OAuthError('invalid_grant', 'this refresh token was revoked', 'family_revoked');
    if (stored.clientId !== client.clientId) throw await this.refused(new OAuthError('invalid_grant', 'the refresh token was issued to another client', 'refresh_client_mismatch'), family.user.email, client, from);
    if (!(await this.deps.signInIsLive(family.loginSessionId))) {
      await this.revokeFamily(family, 'signed_out', from);
      throw await this.refused(new OAuthError('invalid_grant', 'the sign-in behind this authorization has ended: sign in again', 'signed_out'), family.user.email, client, from);
    }
    if (stored.rotated) throw await this.reused(family, client, from);
    if (params.scope !== undefined && params.scope !== family.scope) throw new OAuthError('invalid_scope', `scope must be "${family.scope}" or omitted`);
    this.checkResource(params.resource, family.resource);
    // Marked used before it is taken, as a code is: of refreshes racing with it one takes it,
    // and the others find it taken or marked. Two parties presenting one refresh token at
    // once is a replay like any later one.
    await this.deps.store.refreshTokens.put(rotatedKey(parsed.id), { ...stored, rotated: true });
    const taken = await this.deps.store.refreshTokens.take(parsed.id);
    if (!taken || taken.rotated) throw await this.reused(family, client, from);
    return this.issue(family, 'oauth.token.refreshed', from);
  }

  /** RFC 9700 §4.14.2: a used refresh token coming back means two parties hold it; its family ends. */
  private async reused(family: TokenFamilyRecord, client: OAuthClientRecord, from: ClientAddress): Promise<OAuthError> {
    await this.revokeFamily(family, 'refresh_token_reused', from);
    return this.refused(new OAuthError('invalid_grant', 'this refresh token was already used: its tokens are revoked', 'refresh_token_reused'), family.user.email, client, from);
  }

  /** The refresh token a presented one names, unused or used, once its secret matches. */
  private async refreshToken({ id, secret }: { id: string; secret: string }): Promise<RefreshTokenRecord | null> {
    const stored = (await this.deps.store.refreshTokens.get(id)) ?? (await this.deps.store.refreshTokens.get(rotatedKey(id)));
    return stored && secretMatches(secret, stored.secretHash) ? stored : null;
  }

  /**
   * RFC 7009: revokes an access token, or a refresh token with every token of its family.
   * Unknown tokens and another client's tokens are ignored (§2.2: answered 200 alike).
   */
  async revoke(client: OAuthClientRecord, token: unknown, address: string | undefined): Promise<void> {
    if (typeof token !== 'string') throw new OAuthError('invalid_request', 'token is missing');
    const access = parseCredential(ACCESS_TOKEN_PREFIX, token);
    if (access) {
      const record = await this.deps.store.accessTokens.get(access.id);
      if (!record || !secretMatches(access.secret, record.secretHash) || record.clientId !== client.clientId) return;
      await this.deps.audit.append({ type: 'oauth.token.revoked', outcome: 'SUCCESS', actor: record.user.email, data: { ...clientData(record), tokenType: 'access_token', tokenId: record.id, familyId: record.familyId, ...clientAddressData(address) } });
      await this.deps.store.accessTokens.take(record.id);
      // Live MCP sessions are bound to the authorization, not to one token of it: they end too.
      this.deps.events.ended({ kind: 'oauth', id: record.familyId, reason: 'revoked' });
      return;
    }
    const refresh = parseCredential(REFRESH_TOKEN_PREFIX, token);
    const stored = refresh && (await this.refreshToken(refresh));
    if (!refresh || !stored || stored.clientId !== client.clientId) return;
    const family = await this.deps.store.families.get(stored.familyId);
    await this.deps.store.refreshTokens.take(refresh.id);
    if (family) await this.revokeFamily(family, 'revoked', clientAddressData(address));
  }

  /**
   * The caller's live authorizations (the MCP clients they connected), oldest first. A
   * family stored before `createdAt` was recorded gets the earliest time it can have been
   * created: its bound is at most `refreshTokenMaxSeconds` after its creation.
   */
  async authorizationsOf(caller: Principal): Promise<(TokenFamilyRecord & { createdAt: number })[]> {
    requireScope(caller, 'api');
    const maxMs = this.deps.config.refreshTokenMaxSeconds * 1000;
    return (await this.deps.store.families.listByUser(caller.user.id)).map((family) => ({ ...family, createdAt: family.createdAt ?? Math.min(this.deps.clock.now(), family.expiresAt - maxMs) }));
  }

  /** Revokes one of the caller's authorizations; anyone else's, or an unknown id, is not found alike. */
  async revokeAuthorization(caller: Principal, id: string): Promise<TokenFamilyRecord & { createdAt: number }> {
    const family = (await this.authorizationsOf(caller)).find((f) => f.id === id);
    if (!family) throw new NotFoundError('OAuth authorization');
    await this.revokeFamily(family, 'revoked_by_user', clientAddressData(caller.address));
    return family;
  }

  /**
   * Ends the authorizations a browser sign-in approved, once that sign-in ended (signed
   * out at the IdP): their tokens are refused at once and live MCP sessions opened with
   * them close on every instance, without waiting for the periodic re-check.
   */
  async endSignIn(session: { id: string; user: { id: string } }): Promise<void> {
    for (const family of await this.deps.store.families.listByUser(session.user.id)) {
      if (family.loginSessionId === session.id) await this.revokeFamily(family, 'signed_out');
    }
  }

  /** The live access token a bearer value names, or null (unknown, expired, revoked, malformed). */
  async accessToken(bearer: string): Promise<AccessTokenRecord | null> {
    const parsed = parseCredential(ACCESS_TOKEN_PREFIX, bearer);
    if (!parsed) return null;
    const record = await this.deps.store.accessTokens.get(parsed.id);
    return record && secretMatches(parsed.secret, record.secretHash) ? record : null;
  }

  static isAccessToken(bearer: string): boolean {
    return bearer.startsWith(`${ACCESS_TOKEN_PREFIX}_`);
  }

  /**
   * The principal of a live access token. Its credential is the token's family (the
   * authorization), which stays the same through refreshes: an MCP session opened with one
   * access token goes on with the next, and ends when the authorization is revoked or ends.
   * Each request is still checked against its own token (audience, expiry, revocation).
   */
  principalOf(record: AccessTokenRecord): Promise<Principal | null> {
    const credential = { kind: 'oauth', id: record.familyId, expiresAt: record.familyExpiresAt, tokenExpiresAt: record.expiresAt, client: { id: record.clientId, name: record.clientName } } as const;
    return this.deps.principals.of(record.user, new Set(record.scope.split(' ').includes(MCP_SCOPE) ? ['mcp'] : []), credential, record.issuedAt);
  }

  /**
   * Is the authorization (token family) still there, and the sign-in that approved it? Live
   * MCP sessions re-check (bus events can be lost, and signing out ends no family by event).
   */
  async isLive(familyId: string): Promise<boolean> {
    const family = await this.deps.store.families.get(familyId);
    return family !== null && (await this.deps.signInIsLive(family.loginSessionId));
  }

  /** Records a refused token use (`oauth.token.refused`) and returns the error to throw. */
  async refused<E extends Error>(error: E, actor: string | null, client: { clientId: string; clientName: string } | null, extra: Record<string, unknown> = {}): Promise<E> {
    await this.deps.audit.append({
      type: 'oauth.token.refused',
      outcome: 'DENIED',
      actor,
      data: { ...(client ? clientData(client) : {}), ...(error instanceof OAuthError ? { reason: error.reason ?? error.error } : {}), ...extra },
    });
    return error;
  }

  /** A family's bound: the sign-in's end, capped by `refreshTokenMaxSeconds`. */
  private familyEnd(grant: AuthorizationCodeRecord, now: number): number {
    return Math.min(grant.sessionExpiresAt, now + this.deps.config.refreshTokenMaxSeconds * 1000);
  }

  private checkResource(requested: unknown, bound: string): void {
    if (requested === undefined) return;
    if (typeof requested !== 'string' || this.deps.resources.canonical(requested) !== bound) throw new OAuthError('invalid_target', 'resource differs from the one this authorization was granted for');
  }

  /** A new access token and refresh token in the family; the family remembers the access token so revocation reaches it. */
  private async issue(family: TokenFamilyRecord, type: 'oauth.token.issued' | 'oauth.token.refreshed', from: ClientAddress): Promise<TokenResponse> {
    const now = this.deps.clock.now();
    const access = issueCredential(ACCESS_TOKEN_PREFIX);
    const refresh = issueCredential(REFRESH_TOKEN_PREFIX);
    const expiresAt = Math.min(now + this.deps.config.accessTokenTtlSeconds * 1000, family.expiresAt);
    const record: AccessTokenRecord = {
      id: access.id,
      secretHash: access.secretHash,
      familyId: family.id,
      clientId: family.clientId,
      clientName: family.clientName,
      resource: family.resource,
      scope: family.scope,
      user: family.user,
      issuedAt: now,
      expiresAt,
      familyExpiresAt: family.expiresAt,
    };
    const live = family.accessTokens.filter((t) => t.expiresAt > now);
    await this.deps.store.accessTokens.put(record.id, record);
    await this.deps.store.refreshTokens.put(refresh.id, { secretHash: refresh.secretHash, familyId: family.id, clientId: family.clientId, rotated: false, expiresAt: family.expiresAt });
    // The family is written last, and only while its id is not revoked: a revocation since
    // the family was read stands, and these tokens, never handed out, are dropped. Once the
    // family is written, revoking it reaches them. Before the audit event: a person at their
    // bound of authorizations gets no token, and no record of one.
    const refuse = async (description: string, reason: string) => {
      await this.deps.store.accessTokens.take(record.id);
      await this.deps.store.refreshTokens.take(refresh.id);
      return this.refused(new OAuthError('invalid_grant', description, reason), family.user.email, family, from);
    };
    const written = await this.deps.store.families.put(family.id, { ...family, accessTokens: [...live, { id: record.id, expiresAt }] }).catch(async (error: unknown) => {
      if (!(error instanceof StoreFullError)) throw error;
      throw await refuse(error.message, 'too_many_authorizations');
    });
    if (!written) throw await refuse('this authorization was revoked', 'family_revoked');
    await this.deps.audit.append({
      type,
      outcome: 'SUCCESS',
      actor: family.user.email,
      data: { ...clientData(family), resource: family.resource, scope: family.scope, tokenId: record.id, familyId: family.id, expiresAt: new Date(expiresAt).toISOString(), ...from },
    });
    return { access_token: access.value, token_type: 'Bearer', expires_in: Math.max(1, Math.floor((expiresAt - now) / 1000)), refresh_token: refresh.value, scope: family.scope };
  }

  /** Revokes every authorization of a user the IdP deprovisioned (server/scim); how many there were. */
  async revokeAllOf(userId: string): Promise<number> {
    const families = await this.deps.store.families.listByUser(userId);
    for (const family of families) await this.revokeFamily(family, 'deprovisioned');
    return families.length;
  }

  /** `revoked_by_user`: the person revoked it in the console or the GraphQL API (revokeOAuthAuthorization). `deprovisioned`: by SCIM. */
  private async revokeFamily(family: TokenFamilyRecord, reason: 'revoked' | 'revoked_by_user' | 'refresh_token_reused' | 'code_reused' | 'signed_out' | 'deprovisioned', from: ClientAddress = {}): Promise<void> {
    await this.deps.audit.append({
      type: 'oauth.token.revoked',
      outcome: 'SUCCESS',
      actor: family.user.email,
      data: { ...clientData(family), tokenType: 'refresh_token', familyId: family.id, reason, ...(reason === 'revoked_by_user' ? { via: 'api' } : {}), ...from },
    });
    const taken = await this.deps.store.families.take(family.id);
    // As the store held it, not as the caller read it: a refresh may have added a token since.
    for (const { id } of (taken ?? family).accessTokens) await this.deps.store.accessTokens.take(id);
    this.deps.events.ended({ kind: 'oauth', id: family.id, reason: 'revoked' });
  }
}

/** What an event records of the client that caused it (server/audit/client-address.ts). */
type ClientAddress = ReturnType<typeof clientAddressData>;

function redeemedKey(codeHash: string): string {
  return `redeemed:${codeHash}`;
}

/** Where a used refresh token is kept, so a replay of it is known (and one racing its use). */
function rotatedKey(id: string): string {
  return `rotated:${id}`;
}

/**
 * The id of the family a code buys, derived from the code's hash: every exchange racing
 * for one code names the same family, so the one that loses can revoke it.
 */
function familyIdOf(codeHash: string): string {
  return createHash('sha256').update(`oauth-family:${codeHash}`).digest('base64url').slice(0, 16);
}

function clientData(client: { clientId: string; clientName: string }): { clientId: string; clientName: string } {
  return { clientId: client.clientId, clientName: client.clientName };
}
