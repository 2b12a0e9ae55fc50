/**
 * Store seams, one interface per concern. Two backends implement every one of them
 * (`embedded` for a single instance, `redis` for several) and one contract suite
 * (test/stores/store-contract.ts) proves both. Every record carries an absolute
 * `expiresAt` judged against the injected clock: a backend's own TTL only collects
 * garbage, it never decides validity.
 */
import type { AuditLog } from '../audit/types.js';

export interface UserIdentity {
  /** `${idp}:${nameId}`: stable across logins, unique across federated IdPs. */
  id: string;
  idp: string;
  nameId: string;
  email: string;
  displayName: string | null;
  groups: string[];
}

export interface LoginSession {
  id: string;
  /** SHA-256 of the cookie's secret part; the secret itself is never stored. */
  secretHash: string;
  user: UserIdentity;
  createdAt: number;
  expiresAt: number;
}

export interface LoginSessionStore {
  create(session: LoginSession): Promise<void>;
  /** The session, or null when unknown or expired. */
  get(id: string): Promise<LoginSession | null>;
  /** Removes the session; true when it existed. */
  delete(id: string): Promise<boolean>;
}

export type ApiTokenScope = 'api' | 'mcp' | 'audit:read';

export interface ApiTokenRecord {
  id: string;
  name: string;
  user: UserIdentity;
  scopes: ApiTokenScope[];
  /** SHA-256 of the token's secret part; the token is shown once and never stored. */
  secretHash: string;
  createdAt: number;
  expiresAt: number;
}

export interface ApiTokenStore {
  create(token: ApiTokenRecord): Promise<void>;
  /** The token, or null when unknown, expired or deleted. */
  get(id: string): Promise<ApiTokenRecord | null>;
  /** The user's live tokens, oldest first. */
  listByUser(userId: string): Promise<ApiTokenRecord[]>;
  /** Atomically removes the token and returns it (null when it was not live). */
  delete(id: string): Promise<ApiTokenRecord | null>;
}

/**
 * SAML AuthnRequest ids we issued, so a response's InResponseTo can be checked by any
 * instance (node-saml's own cache is per process).
 */
export interface SamlRequestCache {
  put(requestId: string, value: string, expiresAt: number): Promise<void>;
  get(requestId: string): Promise<string | null>;
  /** Atomically removes and returns the entry: a request id answers one login only. */
  take(requestId: string): Promise<string | null>;
}

/** Consumed assertion ids, kept until the assertion could no longer be valid anyway. */
export interface AssertionReplayCache {
  /** Marks the id consumed until expiresAt; false when it already was (a replay). */
  consume(assertionId: string, expiresAt: number): Promise<boolean>;
}

export interface Stores {
  readonly kind: 'embedded' | 'redis';
  sessions: LoginSessionStore;
  tokens: ApiTokenStore;
  samlRequests: SamlRequestCache;
  assertionReplay: AssertionReplayCache;
  audit: AuditLog;
  /** Resolves when the backing store answers; throws StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  /** Waits (bounded by the connect timeout) for the first connection to the backing store. */
  waitReady(): Promise<void>;
  close(): Promise<void>;
}
