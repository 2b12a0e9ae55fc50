/**
 * Store seams, one interface per concern. Two backends implement every one of them
 * (`embedded` for a single instance, `redis` for several) and one contract suite
 * (test/stores/store-contract.ts) proves both. Every record carries an absolute
 * `expiresAt` judged against the injected clock: a backend's own TTL only collects
 * garbage, it never decides validity.
 */
import type { NotificationEvent } from '../notifications/types.js';
import type { AccessRequestRecord, GrantRecord } from '../access/types.js';
import type { AuditLog } from '../audit/types.js';
import type { AnomalyRecord, AnomalyStatus, EntityState, Suppression } from '../detection/types.js';
import type { AccessTokenRecord, AuthorizationCodeRecord, ConsentRecord, OAuthClientRecord, RefreshTokenRecord, TokenFamilyRecord } from '../oauth/types.js';

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
  /** From the SAML sign-in: what a Single Logout names the session by (absent for other sign-ins). */
  saml?: SamlSessionFacts;
}

export interface SamlSessionFacts {
  sessionIndex: string | null;
  nameIdFormat: string | null;
}

export interface LoginSessionStore {
  create(session: LoginSession): Promise<void>;
  /** The session, or null when unknown or expired. */
  get(id: string): Promise<LoginSession | null>;
  /** The user's live sessions, oldest first (what an IdP's Single Logout ends). */
  listByUser(userId: string): Promise<LoginSession[]>;
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
  /**
   * How the token came to be: `login`, traded for a fresh browser sign-in by `portcullis
   * login` (server/identity/cli-login.ts); `minted`, created with another credential. Only a
   * `login` token may mint tokens that outlive it. Tokens stored before this field existed
   * read as `minted` (server/stores/api-token-records.ts), the value that grants nothing more.
   */
  origin: ApiTokenOrigin;
}

export type ApiTokenOrigin = 'login' | 'minted';

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
 * How many one-time values of one kind may be live at once. Anyone can start a sign-in, so
 * without a bound a flood of starts grows memory until the process (or Redis, which also
 * holds grants and the audit log) falls over. Real pending logins are far fewer: an id
 * lives only until its login completes or, abandoned, for ten minutes. (Measured: about
 * 700 bytes of heap per pending SAML request id in the embedded store.)
 */
export const ONE_TIME_VALUE_CAPACITY = 50_000;

/**
 * Short-lived values that are taken once, shared by every instance: the SAML AuthnRequest
 * ids we issued (node-saml's own cache is per process) and CLI login codes. A store holds
 * at most its capacity of live values.
 */
export interface OneTimeValueStore {
  /** Throws StoreFullError when the store holds its capacity of live values (none is evicted). */
  put(key: string, value: string, expiresAt: number): Promise<void>;
  /**
   * Stores the value only while `key` holds no live one: of racing writers exactly one
   * stores, so a value every instance must agree on (a shared key) is never overwritten.
   * False when a live value was kept. Throws StoreFullError as `put` does.
   */
  putIfAbsent(key: string, value: string, expiresAt: number): Promise<boolean>;
  get(key: string): Promise<string | null>;
  /** Atomically removes and returns the entry: of racing takers exactly one gets it. */
  take(key: string): Promise<string | null>;
}

/**
 * Consumed one-time ids, kept until they could no longer be valid anyway: SAML assertion
 * ids, and the signatures of Slack actions (as `slack-action:<signature>`, a form no SAML
 * assertion id takes: an XML ID has no colon).
 */
export interface AssertionReplayCache {
  /** Marks the id consumed until expiresAt; false when it already was (a replay). */
  consume(assertionId: string, expiresAt: number): Promise<boolean>;
}

/**
 * Counted leases shared by every instance: how per-user caps (live MCP sessions, GraphQL
 * subscriptions) hold across a fleet. A lease lapses at its expiresAt unless renewed, so
 * an instance that dies frees what it held.
 */
export interface LeaseStore {
  /**
   * Takes (or renews) lease `id` in `group`, unless the group already holds `limit` live
   * leases; true when the lease is held.
   */
  acquire(group: string, id: string, limit: number, expiresAt: number): Promise<boolean>;
  /**
   * Extends leases their holder still holds, reviving any that lapsed meanwhile (an
   * outage longer than the lease): the holder knows they are live, and a cap that forgot
   * live sessions would let their user open as many again.
   */
  renew(group: string, ids: readonly string[], expiresAt: number): Promise<void>;
  release(group: string, id: string): Promise<void>;
}

/** A listed record with its position, usable as `after` to continue the listing. */
export interface Listed<T> {
  cursor: string;
  record: T;
}

/**
 * Access requests and grants. Every change is compare-and-set on the record's version,
 * and a grant is created in the same atomic step as the request change that issues it,
 * so racing approvals can never make two grants.
 */
export interface AccessStore {
  /** Creates a request (and its grant, when auto-approved) at once; false when the id exists. */
  createRequest(request: AccessRequestRecord, grant?: GrantRecord): Promise<boolean>;
  getRequest(id: string): Promise<AccessRequestRecord | null>;
  /** Saves `next` only if the stored version is `next.version - 1`, creating `grant` with it; false on conflict. */
  updateRequest(next: AccessRequestRecord, grant?: GrantRecord): Promise<boolean>;
  /** Newest first, after the cursor; `requesterId` keeps one requester's only. */
  listRequests(options: { requesterId?: string; after?: string; limit: number }): Promise<Listed<AccessRequestRecord>[]>;
  /** Ids of PENDING requests whose expiresAt has passed. */
  dueRequests(now: number, limit: number): Promise<string[]>;
  /**
   * Every request still PENDING at `now`, soonest to expire first, read from the index of
   * pending requests rather than the listing: none is missed however old it is.
   */
  pendingRequests(now: number): Promise<AccessRequestRecord[]>;
  getGrant(id: string): Promise<GrantRecord | null>;
  /** Saves `next` only if the stored version is `next.version - 1`; false on conflict. */
  updateGrant(next: GrantRecord): Promise<boolean>;
  /** Newest first, after the cursor; `userId` keeps one user's only. */
  listGrants(options: { userId?: string; after?: string; limit: number }): Promise<Listed<GrantRecord>[]>;
  /** Ids of grants past expiresAt, neither revoked nor yet recorded as expired. */
  dueGrants(now: number, limit: number): Promise<string[]>;
  /**
   * Every grant active at `now` (not revoked, expiresAt after `now`), soonest to end first,
   * read from the index of unended grants rather than the listing: none is missed however
   * long ago it was issued or however long it lasts.
   */
  activeGrants(now: number): Promise<GrantRecord[]>;
  /**
   * Runs `work` while holding `key` exclusively across instances (a lease that lapses if
   * the holder dies). Throws StoreUnavailableError when the lock cannot be had in time.
   */
  withLock<T>(key: string, work: () => Promise<T>): Promise<T>;
}

/** Tools pinned per server at most: a server listing more (or a flood of new names) cannot grow the store without limit. */
export const TOOL_PIN_CAPACITY = 10_000;

/** A tool definition as the broker saw it: the SHA-256 of its canonical JSON, and that JSON (bounded: see tool-pinning.ts). */
export interface ToolDefinitionSeen {
  hash: string;
  definition: string;
  /** The definition was longer than the store keeps, and was cut (the hash covers the whole). */
  truncated: boolean;
  /** When it was first seen (pinned, or recorded as a change). */
  at: number;
}

/** A tool whose definition differs from its pin, waiting for a reviewer to accept it. */
export interface ToolChangeRecord {
  server: string;
  tool: string;
  pinned: ToolDefinitionSeen;
  seen: ToolDefinitionSeen;
}

/**
 * What the store says of a definition the broker saw: it is the pinned one (`created` when
 * this call pinned it, first writer wins), or it differs from the pin (`recorded` when this
 * call was the first to record that very definition as the pending change, so it is
 * audited once across instances), or the server already has its capacity of pinned tools.
 */
export type ToolPinCheck = { verdict: 'pinned'; created: boolean } | { verdict: 'changed'; pinnedHash: string; recorded: boolean } | { verdict: 'full' };

/**
 * Tool pins (broker/tool-pinning.ts): per server and tool, the definition first seen, and
 * at most one pending change (a newer differing definition replaces the older one), so
 * keys stay bounded by the tools pinned.
 */
export interface ToolPinStore {
  check(server: string, tool: string, seen: ToolDefinitionSeen): Promise<ToolPinCheck>;
  /** Pending changes, of one server or of all, oldest first. */
  changes(server?: string): Promise<ToolChangeRecord[]>;
  /** Re-pins the tool to the pending definition with this hash; the change accepted, or null when no such change is pending. */
  accept(server: string, tool: string, hash: string): Promise<ToolChangeRecord | null>;
}

/** The detector's lease as the store holds it: who evaluates, and where in the audit log they got to. */
export interface DetectorClaim {
  /** Cursor of the last audit event whose evaluation was committed; null before the first commit. */
  cursor: string | null;
}

/**
 * The outlier detector's durable state (server/detection/detector.ts): one lease (exactly
 * one instance evaluates), the cursor it has committed, and per-entity learned state.
 * Every write is fenced by the lease: an instance that lost it (paused past its expiry,
 * then woken) writes nothing, so a hand-over never mixes two evaluators' state.
 */
export interface DetectorStateStore {
  /**
   * Takes the lease for `holder` until `expiresAt`, or renews it, unless another holder's
   * lease is live at `now`; the committed cursor when held, null when another holds it.
   * Lease times are the caller's real time (process liveness), never a simulated clock.
   */
  claim(holder: string, now: number, expiresAt: number): Promise<DetectorClaim | null>;
  /** Gives the lease up (a clean shutdown: the next instance need not wait for it to lapse). */
  release(holder: string): Promise<void>;
  /** Entity states by key; unknown or expired keys are absent from the map. */
  load(keys: readonly string[]): Promise<Map<string, EntityState>>;
  /**
   * Atomically, and only while `holder` holds a lease live at `leaseNow` (the lease's own
   * clock, as given to `claim`): writes the entities (each kept until its expiresAt, judged
   * on the store's clock) and the cursor. Each pool of entities keeps its own share of
   * `maxEntities`, and beyond it loses its lowest ranked first (detection/entity-budgets.ts:
   * made-up tools cannot push a person out). False when the lease was lost: nothing was written.
   */
  commit(holder: string, leaseNow: number, cursor: string, entities: ReadonlyMap<string, { state: EntityState; expiresAt: number }>, maxEntities: number): Promise<boolean>;
}

/**
 * Live suppressions at most: each silences one (user, rule), so real ones are few; the
 * bound stops a script (or a careless loop) from growing a list every raise reads.
 */
export const SUPPRESSION_CAPACITY = 1_000;
export const TOO_MANY_SUPPRESSIONS = `${SUPPRESSION_CAPACITY} suppressions are live: remove some, or let them expire, first`;

/** Anomalies for the API and console (the newest `keep`), and suppressions. */
export interface AnomalyStore {
  /** Stores a new anomaly, dropping the oldest beyond `keep`; false when one with its id exists. */
  create(record: AnomalyRecord, keep: number): Promise<boolean>;
  get(id: string): Promise<AnomalyRecord | null>;
  /** Saves `next` only if the stored version is `next.version - 1`; false on conflict. */
  update(next: AnomalyRecord): Promise<boolean>;
  /** Newest first, after the cursor. */
  list(options: { user?: string; status?: AnomalyStatus; after?: string; limit: number }): Promise<Listed<AnomalyRecord>[]>;
  /** Throws StoreFullError beyond a fixed capacity of live suppressions. */
  suppress(suppression: Suppression): Promise<void>;
  /** Live suppressions at `now`, soonest to expire first. */
  suppressions(now: number): Promise<Suppression[]>;
  /** Removes a suppression; the removed one, or null when it was not live. */
  unsuppress(id: string): Promise<Suppression | null>;
}

/** A budget of `points` per key, refilled every `durationSeconds` (a fixed window). */
export interface RateLimit {
  points: number;
  durationSeconds: number;
}

export type RateLimitDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

export interface RateLimiter {
  /**
   * Takes `points` (default 1) from `key`'s budget: allowed, or refused with the time until
   * the budget refills. Throws StoreUnavailableError when the store cannot count (callers
   * refuse the request: an uncounted request is an unlimited one).
   */
  consume(key: string, points?: number): Promise<RateLimitDecision>;
}

/**
 * Counters shared by every instance, for rate limits: per client address on the
 * unauthenticated edge today, per user, server or tool tomorrow. Each limiter's `name`
 * is its own counter space; two limiters with one name share counters.
 */
export interface RateLimitStore {
  limiter(name: string, limit: RateLimit): RateLimiter;
}

/** Records under a key until their `expiresAt`, as every instance sees them. */
export interface ExpiringRecords<T extends { expiresAt: number }> {
  /** Throws StoreFullError when a bounded collection holds its capacity of live records. */
  put(key: string, value: T): Promise<void>;
  /** The record, or null when unknown or expired. */
  get(key: string): Promise<T | null>;
  /** Atomically removes and returns the record: of racing takers exactly one gets it. */
  take(key: string): Promise<T | null>;
}

/**
 * How many live authorizations (token families) one person may hold. Every consent makes
 * one, so without a bound a script looping through the flow grows a user's index, and the
 * list the console reads, without end; real people connect a handful of clients.
 */
export const TOKEN_FAMILIES_PER_USER = 100;
export const TOO_MANY_FAMILIES = `you have ${TOKEN_FAMILIES_PER_USER} connected MCP clients: revoke some on the API tokens page first`;

/** Oldest first; families from before `createdAt` was recorded come first. */
export function oldestFamilyFirst(a: TokenFamilyRecord, b: TokenFamilyRecord): number {
  return (a.createdAt ?? 0) - (b.createdAt ?? 0);
}

/**
 * Token families, indexed by their user (the index expires with them). Taking a family
 * revokes its id until the family would have ended, and no put writes a revoked id: a
 * refresh that read the family before a revocation cannot bring it back with the tokens it
 * issues (RFC 9700 §4.14.2).
 */
export interface TokenFamilyStore {
  /**
   * Creates or rewrites a family; false, and nothing written, once its id is revoked. Throws
   * StoreFullError for a new family when its user holds TOKEN_FAMILIES_PER_USER live ones.
   */
  put(key: string, value: TokenFamilyRecord): Promise<boolean>;
  /** The family, or null when unknown, expired or taken. */
  get(key: string): Promise<TokenFamilyRecord | null>;
  /**
   * Atomically removes and returns the family (of racing takers exactly one gets it) and
   * revokes its id until the family would have ended, or until `revokedUntil` when later:
   * an id whose family may be being written at this moment is revoked ahead of it.
   */
  take(key: string, revokedUntil?: number): Promise<TokenFamilyRecord | null>;
  /** The user's live families, oldest first; expired ones are never returned. */
  listByUser(userId: string): Promise<TokenFamilyRecord[]>;
}

/**
 * The OAuth authorization server's state (server/oauth): shared, so any instance serves
 * any step of a flow and a revocation holds everywhere at once. Codes are keyed by their
 * SHA-256, tokens by their id with the SHA-256 of their secret: neither is stored itself.
 */
export interface OAuthStores {
  /** Clients registered by RFC 7591, and metadata documents fetched for URL client ids (bounded: anyone may register). */
  clients: ExpiringRecords<OAuthClientRecord>;
  /** Authorization codes (bounded: one per consent, each lives a minute). */
  codes: ExpiringRecords<AuthorizationCodeRecord>;
  /** Authorizations (token families), listed per person: the connected MCP clients one may see and revoke. */
  families: TokenFamilyStore;
  accessTokens: ExpiringRecords<AccessTokenRecord>;
  refreshTokens: ExpiringRecords<RefreshTokenRecord>;
  /** Remembered consents, by a hash of (user, client, resource, scope). */
  consents: ExpiringRecords<ConsentRecord>;
}

/** An email of a SCIM user (RFC 7643 §4.1.2), as far as Portcullis keeps it. */
export interface ScimEmail {
  value: string;
  type: string | null;
  primary: boolean;
}

/**
 * A user an IdP provisioned over SCIM 2.0 (server/scim): the subset of RFC 7643's User
 * that Portcullis keeps. It is the Portcullis user of that IdP whose NameID or email
 * equals `userName`, case-insensitively (docs/scim.md).
 */
export interface ScimUserRecord {
  /** Ours, opaque (RFC 7643 §3.1: issued by the service provider). */
  id: string;
  idp: string;
  userName: string;
  externalId: string | null;
  active: boolean;
  emails: ScimEmail[];
  displayName: string | null;
  /**
   * The displayNames of the SCIM groups holding the user; null until a SCIM group first
   * held them. When not null, they replace the groups the SAML assertion carried.
   */
  groups: string[] | null;
  /** Credentials issued at or before this time never authenticate again (set at each deactivation; 0: none). */
  revokedBefore: number;
  /**
   * Set when the IdP deleted the user: the record stays, inactive and out of SCIM's sight,
   * so their credentials stay refused, until the IdP creates a user of that name again.
   */
  deletedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

/** A group an IdP provisioned over SCIM 2.0: its name (what roles match) and members (our user ids). */
export interface ScimGroupRecord {
  id: string;
  idp: string;
  displayName: string;
  externalId: string | null;
  members: string[];
  createdAt: number;
  updatedAt: number;
}

/** One kind of SCIM resource of every IdP; each IdP's are apart, and a name is unique within its IdP, whatever its case. */
export interface ScimCollection<T extends { id: string; idp: string }> {
  get(idp: string, id: string): Promise<T | null>;
  /** The record holding the first of these names (compared case-insensitively) that one holds. */
  find(idp: string, names: readonly string[]): Promise<T | null>;
  /** The IdP's records, oldest first. */
  list(idp: string): Promise<T[]>;
  /**
   * Creates or replaces the record (and moves its name); false, writing nothing, when
   * another record holds its name, unless it is the record `displacing` names: that one is
   * removed in the same step (a deleted or renamed SCIM user's tombstone whose name is
   * given again). With `tombstone`, a new record of the same IdP that takes the name the
   * record leaves, in the same step (a renamed SCIM user's former name stays held, never
   * free in between: server/scim); false, writing nothing, when it is not that (the record
   * is new or keeps its name, or a record has the tombstone's id).
   */
  put(record: T, options?: { displacing?: string; tombstone?: T }): Promise<boolean>;
  /** Removes the record; the removed one, or null when there was none. */
  delete(idp: string, id: string): Promise<T | null>;
}

/** SCIM resources live until the IdP deletes them. */
export const SCIM_RESOURCE_CAPACITY = 100_000;

/**
 * SCIM users and groups (server/scim), and the Portcullis users seen signing in under a
 * name (NameID or email, lowercased) of an IdP: how a deprovisioning finds the tokens of
 * a SCIM user, which are kept by Portcullis user id.
 */
export interface ScimStore {
  users: ScimCollection<ScimUserRecord>;
  groups: ScimCollection<ScimGroupRecord>;
  /** Records that `userId` signed in under these names; idempotent. */
  sighted(idp: string, names: readonly string[], userId: string): Promise<void>;
  /** The Portcullis user ids seen under the name (lowercased). */
  sightings(idp: string, name: string): Promise<string[]>;
}

/** A Portcullis user as the directory keeps them: as their IdP last described them, and when. */
export interface DirectoryEntry {
  user: UserIdentity;
  /** When they last signed in (SAML or OIDC). */
  lastSeenAt: number;
}

/**
 * Users kept in the directory at most: past it, the least recently seen goes. Sign-in
 * must never fail on a full directory, and a person not seen for long is the one to forget.
 */
export const USER_DIRECTORY_CAPACITY = 100_000;

/**
 * The Portcullis users seen signing in (server/identity/sign-in-identity.ts): how a
 * notification reaches a reviewer who holds a role by group, and how a Slack user is
 * matched to a Portcullis user by email. What an entry says is as of the sign-in: callers
 * check the user is still current (Principals.current) before acting on it. Indexes by
 * email and group are hints; every read filters on the stored record.
 */
export interface UserDirectoryStore {
  /** Records `user` as signed in at `at`, replacing what was kept of them. */
  seen(user: UserIdentity, at: number): Promise<void>;
  /** The users whose email is `email`, whatever its case; most recently seen first. */
  byEmail(email: string): Promise<DirectoryEntry[]>;
  /** Up to `limit` users holding any of `groups` (as their IdP last asserted them); most recently seen first. */
  inGroups(groups: readonly string[], limit: number): Promise<DirectoryEntry[]>;
}

/**
 * Cross-instance events (pub/sub): fire-and-forget hints, never the source of truth. An
 * EventTarget, so graphql-yoga's createPubSub can sit on it.
 */
export type EventBus = EventTarget;

export type DeliveryStatus = 'PENDING' | 'DELIVERED' | 'DEAD';

/** One delivery owed to a sink (server/notifications/dispatcher.ts), as the outbox keeps it. */
export interface OutboxEntry {
  /** `<sink>:<audit event id>`. */
  id: string;
  sink: string;
  event: NotificationEvent;
  recipients: string[];
  status: DeliveryStatus;
  /** Tries made so far. */
  attempts: number;
  /** The next try is not made before this. */
  dueAt: number;
  /** The instance trying it now, until claimedUntil: another leaves it alone meanwhile. */
  claimedBy: string | null;
  claimedUntil: number;
  /** The last failure, in fixed words (never the receiver's body). */
  lastError: string | null;
  createdAt: number;
  updatedAt: number;
  /** Bumped on every change; the store compares and sets on it. */
  version: number;
  /** The subject (`<sink>:<request or anomaly id>`) this entry's message opens: enqueued, its id is kept as the subject's opener (NotificationStore.opener). */
  opens?: string;
}

/**
 * The notification outbox: a lease (one instance follows the audit log and fills the
 * outbox), the cursor it committed, and the deliveries. Filling is fenced by the lease, and
 * writes the entries with the cursor in one step: a crash neither loses nor repeats one.
 */
export interface NotificationStore {
  /** As DetectorStateStore.claim: the committed cursor when `holder` holds the lease. */
  claim(holder: string, now: number, expiresAt: number): Promise<{ cursor: string | null } | null>;
  release(holder: string): Promise<void>;
  /**
   * Only while `holder` holds a lease live at `leaseNow`: adds the entries (an id already there
   * is kept as it is), records each added entry that `opens` a subject as its opener, and sets
   * the cursor. False when the lease was lost.
   */
  enqueue(holder: string, leaseNow: number, cursor: string, entries: readonly OutboxEntry[], keepUntil: number): Promise<boolean>;
  get(id: string): Promise<OutboxEntry | null>;
  /** Every kept entry, oldest first (the API's listing). */
  entries(): Promise<OutboxEntry[]>;
  /** Up to `limit` PENDING entries of `sink` due and unclaimed at `now`, soonest due first: what a delivery loop reads, without the rest of the outbox. */
  due(sink: string, now: number, limit: number): Promise<OutboxEntry[]>;
  /** Saves `next` (kept until `keepUntil`) only if the stored version is `next.version - 1`; false on conflict. */
  update(next: OutboxEntry, keepUntil: number): Promise<boolean>;
  /** What a sink's delivery left for later ones of the same subject (Delivery.memo), by `<sink>:<subject>`. */
  memo(key: string): Promise<Record<string, string> | null>;
  setMemo(key: string, memo: Record<string, string>, keepUntil: number): Promise<void>;
  /** The id of the entry that opened the subject `key` (OutboxEntry.opens), while kept: later deliveries of the subject wait until it settled. */
  opener(key: string): Promise<string | null>;
}

/**
 * Audit export (server/export): per sink, a lease (one instance exports it at a time) and
 * the cursor of the last event the sink's receiver acknowledged. The cursor is written only
 * by the lease holder, fenced as DetectorStateStore.commit is, so an instance that lost the
 * lease (paused past its expiry) can never move a successor's cursor back or forth.
 */
export interface ExportCursorStore {
  /** As DetectorStateStore.claim, for one sink: its committed cursor when `holder` holds the sink's lease. */
  claim(sink: string, holder: string, now: number, expiresAt: number): Promise<{ cursor: string | null } | null>;
  release(sink: string, holder: string): Promise<void>;
  /** Only while `holder` holds the sink's lease live at `leaseNow`: sets the cursor. False when the lease was lost (nothing written). */
  commit(sink: string, holder: string, leaseNow: number, cursor: string): Promise<boolean>;
  /** The sink's committed cursor, whoever holds the lease (the lag metric reads it on every instance). */
  cursor(sink: string): Promise<string | null>;
}

export interface Stores {
  readonly kind: 'embedded' | 'redis';
  sessions: LoginSessionStore;
  tokens: ApiTokenStore;
  samlRequests: OneTimeValueStore;
  /** Codes `portcullis login` exchanges for a token (server/identity/cli-login.ts). */
  cliLoginCodes: OneTimeValueStore;
  /** OIDC sign-ins begun and not yet returned: state, nonce and PKCE verifier (server/oidc/oidc-sign-in.ts). */
  oidcRequests: OneTimeValueStore;
  /** The SAML key fingerprints last recorded, per IdP and for the SP (server/saml/key-rotation.ts). */
  samlKeySets: OneTimeValueStore;
  /** The key sealing listing cursors that stop among records the caller may not see (server/stores/sealed-cursor.ts): shared, so any instance opens what another sealed. */
  cursorKeys: OneTimeValueStore;
  assertionReplay: AssertionReplayCache;
  oauth: OAuthStores;
  /** Per-user caps across instances (server/limits). */
  leases: LeaseStore;
  /** Per-client-address (and later per-user, per-tool) call budgets, counted across instances. */
  rateLimits: RateLimitStore;
  audit: AuditLog;
  access: AccessStore;
  toolPins: ToolPinStore;
  /** The outlier detector's lease, cursor and learned state (server/detection/detector.ts). */
  detector: DetectorStateStore;
  /** Anomalies raised by the outlier detector, and suppressions (server/detection). */
  anomalies: AnomalyStore;
  /** Users and groups IdPs provision over SCIM 2.0 (server/scim). */
  scim: ScimStore;
  /** The notification outbox (server/notifications). */
  notifications: NotificationStore;
  /** Per audit export sink, its lease and acknowledged cursor (server/export). */
  exportCursors: ExportCursorStore;
  /** The users seen signing in (notification recipients by group, Slack users by email). */
  directory: UserDirectoryStore;
  events: EventBus;
  /** Resolves when the backing store answers; throws StoreUnavailableError otherwise. */
  ping(): Promise<void>;
  /** Waits (bounded by the connect timeout) for the first connection to the backing store. */
  waitReady(): Promise<void>;
  close(): Promise<void>;
}
