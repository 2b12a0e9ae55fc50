import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_EVENT_BYTES } from '../../server/audit/admit-event.js';
import { findChainBreak, GENESIS_HASH } from '../../server/audit/chain.js';
import { AuditKeyRing, AuditSigner } from '../../server/audit/seal.js';
import { verifyChain, verifyLog } from '../../server/audit/verify.js';
import type { AuditEvent, AuditEventInput, AuditLogOptions } from '../../server/audit/types.js';
import { InvalidCursorError, InvalidInputError, StoreFullError, StoreUnavailableError } from '../../server/errors.js';
import type { AccessRequestRecord, GrantRecord } from '../../server/access/types.js';
import { TOKEN_FAMILIES_PER_USER } from '../../server/stores/types.js';
import { CursorSeal } from '../../server/stores/sealed-cursor.js';
import { SealedText } from '../../server/stores/sealed-text.js';
import type { ApiTokenRecord, LoginSession, OneTimeValueStore, Stores, ToolDefinitionSeen, UserIdentity } from '../../server/stores/types.js';
import type { AccessTokenRecord, TokenFamilyRecord } from '../../server/oauth/types.js';
import { auditKeyPair } from '../support/audit-keys.js';
import { ManualClock } from '../support/manual-clock.js';
import { describeScimStore } from './scim-contract.js';
import { describeExportCursors } from './export-cursor-contract.js';
import { describeUserDirectory } from './user-directory-contract.js';

/** What the contract's stores are opened with unless a test says otherwise: retention on, so trims are allowed. */
export const CONTRACT_AUDIT_OPTIONS: AuditLogOptions = { retention: true };

export interface StoreFixture {
  stores: Stores;
  clock: ManualClock;
  /**
   * Opens the same data again, as a restarted instance would (after the first is closed),
   * with other audit options when given (a changed configuration).
   */
  reopen(audit?: AuditLogOptions): Promise<Stores>;
  /** A cursor in another backend's format, to check it is refused. */
  foreignCursor: string;
  /** A cursor in this backend's format that it has not issued (past the newest event). */
  unissuedCursor: string;
}

const HOUR = 3_600_000;

/** Every backend under contract is built with this capacity of live one-time values per kind. */
export const CONTRACT_ONE_TIME_CAPACITY = 4;

/** Every backend under contract is built with this capacity of pinned tools per server. */
export const CONTRACT_TOOL_PIN_CAPACITY = 3;

export const alice: UserIdentity = { id: 'corp:alice', idp: 'corp', nameId: 'alice', email: 'alice@example.com', displayName: 'Alice', groups: ['engineering'] };
export const bob: UserIdentity = { id: 'corp:bob', idp: 'corp', nameId: 'bob', email: 'bob@example.com', displayName: null, groups: [] };

function token(id: string, user: UserIdentity, clock: ManualClock, ttlMs = HOUR): ApiTokenRecord {
  return { id, name: `token ${id}`, user, scopes: ['api'], secretHash: `hash-${id}`, createdAt: clock.now(), expiresAt: clock.now() + ttlMs, origin: 'minted' };
}

const event = (n: number, extra: Partial<AuditEventInput> = {}): AuditEventInput => ({
  type: 'auth.login',
  outcome: 'SUCCESS',
  actor: 'alice@example.com',
  data: { n },
  ...extra,
});

export function requestRecord(id: string, clock: ManualClock, overrides: Partial<AccessRequestRecord> = {}): AccessRequestRecord {
  return {
    id,
    requester: alice,
    server: 'everything',
    rule: 'engineer/request/0',
    tools: ['echo'],
    denyTools: [],
    resources: ['demo://*'],
    denyResources: [],
    prompts: [],
    denyPrompts: [],
    readOnly: false,
    arguments: { echo: [{ type: 'object', properties: { message: { maxLength: 100 } } }] },
    reason: 'debugging',
    durationSeconds: 3600,
    status: 'PENDING',
    reviews: [],
    grantId: null,
    createdAt: clock.now(),
    expiresAt: clock.now() + HOUR,
    decidedAt: null,
    version: 1,
    ...overrides,
  };
}

export function grantRecord(id: string, request: AccessRequestRecord, clock: ManualClock, overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    id,
    user: request.requester,
    server: request.server,
    rule: request.rule,
    tools: request.tools,
    denyTools: [],
    resources: request.resources,
    denyResources: [],
    prompts: request.prompts,
    denyPrompts: [],
    readOnly: true,
    readOnlyTools: ['echo'],
    arguments: request.arguments,
    requestId: request.id,
    issuedAt: clock.now(),
    expiresAt: clock.now() + HOUR,
    revokedAt: null,
    revokedBy: null,
    revokeReason: null,
    expiredAt: null,
    version: 1,
    ...overrides,
  };
}

async function collect(iterable: AsyncIterable<AuditEvent>, count: number, abort: AbortController): Promise<AuditEvent[]> {
  const out: AuditEvent[] = [];
  for await (const e of iterable) {
    out.push(e);
    if (out.length === count) abort.abort();
  }
  return out;
}

/**
 * The behaviour every store backend promises. Run unchanged against each backend with a
 * constructor returning the stores and the clock they were given.
 */
export function runStoreContract(backend: string, create: () => Promise<StoreFixture>): void {
  describe(`store contract: ${backend}`, () => {
    let fx: StoreFixture;
    const opened: Stores[] = [];
    const reopen = async (audit?: AuditLogOptions) => {
      const s = await fx.reopen(audit);
      opened.push(s);
      return s;
    };
    /** Closes the fixture's stores and opens the same data again, as a restarted instance. */
    const restart = async (audit?: AuditLogOptions) => {
      await fx.stores.close();
      opened.splice(opened.indexOf(fx.stores), 1);
      return reopen(audit);
    };

    beforeEach(async () => {
      fx = await create();
      opened.push(fx.stores);
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    describeScimStore(() => fx.stores, () => restart());
    describeExportCursors(() => fx, () => restart());
    describeUserDirectory(() => fx.stores, () => fx.clock, () => restart());

    describe('login sessions', () => {
      const session = (clock: ManualClock): LoginSession => ({ id: 's1', secretHash: 'h', user: alice, createdAt: clock.now(), expiresAt: clock.now() + HOUR });

      it('returns a created session with every field intact', async () => {
        const s = session(fx.clock);
        await fx.stores.sessions.create(s);
        expect(await fx.stores.sessions.get('s1')).toEqual(s);
        expect(await fx.stores.sessions.get('unknown')).toBeNull();
      });

      it('forgets a session once the clock reaches its expiresAt', async () => {
        await fx.stores.sessions.create(session(fx.clock));
        fx.clock.advance(HOUR - 1);
        expect(await fx.stores.sessions.get('s1')).not.toBeNull();
        fx.clock.advance(1);
        expect(await fx.stores.sessions.get('s1')).toBeNull();
      });

      it("lists a user's live sessions, oldest first, and not once deleted or expired", async () => {
        const s1 = { ...session(fx.clock), saml: { sessionIndex: '_idx1', nameIdFormat: null } };
        await fx.stores.sessions.create(s1);
        fx.clock.advance(1000);
        await fx.stores.sessions.create({ ...session(fx.clock), id: 's2', expiresAt: fx.clock.now() + 2 * HOUR });
        await fx.stores.sessions.create({ ...session(fx.clock), id: 's3', user: bob });
        expect((await fx.stores.sessions.listByUser(alice.id)).map((s) => s.id)).toEqual(['s1', 's2']);
        expect((await fx.stores.sessions.listByUser(alice.id))[0]).toEqual(s1);
        expect((await fx.stores.sessions.listByUser(bob.id)).map((s) => s.id)).toEqual(['s3']);
        await fx.stores.sessions.delete('s2');
        expect((await fx.stores.sessions.listByUser(alice.id)).map((s) => s.id)).toEqual(['s1']);
        fx.clock.advance(HOUR);
        expect(await fx.stores.sessions.listByUser(alice.id)).toEqual([]);
      });

      it('deletes a session once', async () => {
        await fx.stores.sessions.create(session(fx.clock));
        expect(await fx.stores.sessions.delete('s1')).toBe(true);
        expect(await fx.stores.sessions.delete('s1')).toBe(false);
        expect(await fx.stores.sessions.get('s1')).toBeNull();
      });
    });

    describe('API tokens', () => {
      it('lists only the live tokens of the user, oldest first', async () => {
        await fx.stores.tokens.create(token('t1', alice, fx.clock, 2 * HOUR));
        fx.clock.advance(1000);
        await fx.stores.tokens.create(token('t2', alice, fx.clock, HOUR));
        await fx.stores.tokens.create(token('t3', bob, fx.clock));
        expect((await fx.stores.tokens.listByUser(alice.id)).map((t) => t.id)).toEqual(['t1', 't2']);
        fx.clock.advance(HOUR);
        expect((await fx.stores.tokens.listByUser(alice.id)).map((t) => t.id)).toEqual(['t1']);
        expect(await fx.stores.tokens.get('t2')).toBeNull();
        expect(await fx.stores.tokens.get('t1')).toEqual(token('t1', alice, new ManualClock(fx.clock.now() - HOUR - 1000), 2 * HOUR));
      });

      it('deletes a token atomically: the first delete returns it, later ones nothing', async () => {
        const t = token('t1', alice, fx.clock);
        await fx.stores.tokens.create(t);
        const results = await Promise.all([1, 2, 3, 4, 5].map(() => fx.stores.tokens.delete('t1')));
        expect(results.filter((r) => r !== null)).toEqual([t]);
        expect(await fx.stores.tokens.get('t1')).toBeNull();
        expect(await fx.stores.tokens.listByUser(alice.id)).toEqual([]);
      });

      it('keeps how a token came to be, and reads one stored before origins existed as minted', async () => {
        const login: ApiTokenRecord = { ...token('t1', alice, fx.clock), origin: 'login' };
        await fx.stores.tokens.create(login);
        fx.clock.advance(1000);
        const { origin: _, ...legacy } = token('t2', alice, fx.clock);
        // What an older version wrote: the same record, without the field.
        await fx.stores.tokens.create(legacy as ApiTokenRecord);
        const stores = await restart();
        expect(await stores.tokens.get('t1')).toEqual(login);
        expect(await stores.tokens.get('t2')).toEqual({ ...legacy, origin: 'minted' });
        expect((await stores.tokens.listByUser(alice.id)).map((t) => t.origin)).toEqual(['login', 'minted']);
        expect(await stores.tokens.delete('t2')).toMatchObject({ origin: 'minted' });
      });
    });

    describe('one-time values (SAML request ids, CLI login codes)', () => {
      it('answers one take only, however many race for it', async () => {
        await fx.stores.samlRequests.put('_req1', 'corp', fx.clock.now() + 60_000);
        expect(await fx.stores.samlRequests.get('_req1')).toBe('corp');
        const takes = await Promise.all([1, 2, 3, 4, 5, 6].map(() => fx.stores.samlRequests.take('_req1')));
        expect(takes.filter((t) => t !== null)).toEqual(['corp']);
        expect(await fx.stores.samlRequests.get('_req1')).toBeNull();
      });

      it('expires an unanswered request id', async () => {
        await fx.stores.samlRequests.put('_req2', 'corp', fx.clock.now() + 60_000);
        fx.clock.advance(60_000);
        expect(await fx.stores.samlRequests.take('_req2')).toBeNull();
      });

      it('keeps the two kinds apart: the same key in each is a different value', async () => {
        await fx.stores.samlRequests.put('k', 'saml', fx.clock.now() + 60_000);
        await fx.stores.cliLoginCodes.put('k', 'cli', fx.clock.now() + 60_000);
        await fx.stores.oidcRequests.put('k', 'oidc', fx.clock.now() + 60_000);
        expect(await fx.stores.cliLoginCodes.take('k')).toBe('cli');
        expect(await fx.stores.oidcRequests.take('k')).toBe('oidc');
        expect(await fx.stores.samlRequests.take('k')).toBe('saml');
      });

      it('keeps the SAML key sets apart from the request ids, and a recorded set across puts', async () => {
        await fx.stores.samlRequests.put('idp:corp', 'request', fx.clock.now() + 60_000);
        await fx.stores.samlKeySets.put('idp:corp', '{"keys":["A"]}', fx.clock.now() + 60_000);
        await fx.stores.samlKeySets.put('idp:corp', '{"keys":["B"]}', fx.clock.now() + 60_000);
        expect(await fx.stores.samlKeySets.get('idp:corp')).toBe('{"keys":["B"]}');
        expect(await fx.stores.samlRequests.get('idp:corp')).toBe('request');
      });

      it('refuses a new value while capacity are live, evicting none; room comes back as values are taken or expire', async () => {
        const values = fx.stores.samlRequests;
        const ids = Array.from({ length: CONTRACT_ONE_TIME_CAPACITY }, (_, i) => `_live${i}`);
        for (const [i, id] of ids.entries()) await values.put(id, 'corp', fx.clock.now() + (i === 0 ? 60_000 : 120_000));
        await expect(values.put('_extra', 'corp', fx.clock.now() + 60_000)).rejects.toBeInstanceOf(StoreFullError);
        for (const id of ids) expect(await values.get(id)).toBe('corp');
        expect(await values.get('_extra')).toBeNull();

        expect(await values.take(ids[1]!)).toBe('corp');
        await values.put('_extra', 'corp', fx.clock.now() + 120_000);
        await expect(values.put('_more', 'corp', fx.clock.now() + 60_000)).rejects.toBeInstanceOf(StoreFullError);
        fx.clock.advance(60_000);
        await values.put('_more', 'corp', fx.clock.now() + 60_000);
        expect(await values.get('_more')).toBe('corp');
        await fx.stores.cliLoginCodes.put('_other-kind', 'cli', fx.clock.now() + 60_000);
      });
    });

    describe('shared values every instance must agree on (the listing cursor key)', () => {
      it('keeps the first of racing offers and refuses the rest while it lives; an expired value is replaced', async () => {
        const keys = fx.stores.cursorKeys;
        const offered = ['a', 'b', 'c', 'd'];
        const stored = await Promise.all(offered.map((value) => keys.putIfAbsent('k', value, fx.clock.now() + 60_000)));
        expect(stored.filter(Boolean)).toHaveLength(1);
        const kept = await keys.get('k');
        expect(stored[offered.indexOf(kept!)]).toBe(true);
        expect(await keys.putIfAbsent('k', 'later', fx.clock.now() + 120_000)).toBe(false);
        expect(await keys.get('k')).toBe(kept);

        fx.clock.advance(60_000);
        expect(await keys.putIfAbsent('k', 'next', fx.clock.now() + 60_000)).toBe(true);
        expect(await keys.get('k')).toBe('next');
      });

      it('counts an offer against the capacity as a put does; an offer for a live key is declined, not refused', async () => {
        const keys = fx.stores.cursorKeys;
        for (let i = 0; i < CONTRACT_ONE_TIME_CAPACITY; i++) await keys.put(`k${i}`, 'v', fx.clock.now() + 60_000);
        await expect(keys.putIfAbsent('extra', 'v', fx.clock.now() + 60_000)).rejects.toBeInstanceOf(StoreFullError);
        expect(await keys.putIfAbsent('k0', 'other', fx.clock.now() + 60_000)).toBe(false);
      });

      it('seals cursors under one key when two instances find none together: a cursor sealed by either opens with the other', async () => {
        const keys = fx.stores.cursorKeys;
        let answered!: () => void;
        let release!: () => void;
        const read = new Promise<void>((resolve) => (answered = resolve));
        const released = new Promise<void>((resolve) => (release = resolve));
        // The second instance finds no key, then is slow: the first makes one and seals with it before the second goes on.
        const slowReader: OneTimeValueStore = {
          put: (key, value, expiresAt) => keys.put(key, value, expiresAt),
          putIfAbsent: (key, value, expiresAt) => keys.putIfAbsent(key, value, expiresAt),
          take: (key) => keys.take(key),
          get: async (key) => {
            const value = await keys.get(key);
            answered();
            await released;
            return value;
          },
        };
        const first = new CursorSeal(keys, fx.clock);
        const second = new CursorSeal(slowReader, fx.clock);
        const sealedBySecond = second.seal('requests:alice', 'position-2');
        await read;
        const sealedByFirst = await first.seal('requests:alice', 'position-1');
        release();
        expect(await first.open('requests:alice', await sealedBySecond)).toBe('position-2');
        expect(await second.open('requests:alice', sealedByFirst)).toBe('position-1');
      });

      it('opens what it sealed a moment before its key changed, for a period more, and not after', async () => {
        const day = 86_400_000;
        const sealer = new SealedText(fx.stores.cursorKeys, fx.clock, { keyName: 'contract-seal', label: 'contract', keyLifetimeMs: 2 * day, block: 16, maxEncodedLength: 512 });
        // The last moment of a period (a day here): the next seal is under another key.
        fx.clock.advance(day - (fx.clock.now() % day) - 1);
        const sealed = await sealer.seal('scope', 'text');
        fx.clock.advance(1);
        const fresh = await sealer.seal('scope', 'fresh');
        expect([await sealer.open('scope', sealed), await sealer.open('scope', fresh), await sealer.open('other scope', sealed)]).toEqual(['text', 'fresh', null]);
        fx.clock.advance(day);
        expect([await sealer.open('scope', sealed), await sealer.open('scope', fresh)]).toEqual([null, 'fresh']);
      });
    });

    describe('OAuth records (clients, codes, token families, tokens, consents)', () => {
      const accessToken = (clock: ManualClock): AccessTokenRecord => ({
        id: 'at1',
        secretHash: 'hash-at1',
        familyId: 'f1',
        clientId: 'pcc_client',
        clientName: 'Client',
        resource: 'https://broker.example.com/mcp/a',
        scope: 'mcp',
        user: alice,
        issuedAt: clock.now(),
        expiresAt: clock.now() + 600_000,
        familyExpiresAt: clock.now() + 86_400_000,
      });

      it('returns a record with every field intact, until its expiresAt', async () => {
        const record = accessToken(fx.clock);
        await fx.stores.oauth.accessTokens.put(record.id, record);
        expect(await fx.stores.oauth.accessTokens.get('at1')).toEqual(record);
        expect(await fx.stores.oauth.refreshTokens.get('at1')).toBeNull();
        fx.clock.advance(600_000 - 1);
        expect(await fx.stores.oauth.accessTokens.get('at1')).not.toBeNull();
        fx.clock.advance(1);
        expect(await fx.stores.oauth.accessTokens.get('at1')).toBeNull();
      });

      it('answers one take only, however many race for it (a code is redeemed once, a refresh token rotated once)', async () => {
        await fx.stores.oauth.refreshTokens.put('rt1', { secretHash: 'h', familyId: 'f1', clientId: 'c', rotated: false, expiresAt: fx.clock.now() + HOUR });
        const takes = await Promise.all([1, 2, 3, 4, 5, 6].map(() => fx.stores.oauth.refreshTokens.take('rt1')));
        expect(takes.filter((t) => t !== null)).toHaveLength(1);
        expect(await fx.stores.oauth.refreshTokens.get('rt1')).toBeNull();
      });

      it('bounds registered clients and pending codes (anyone may create them), evicting none', async () => {
        const client = (id: string) => ({ clientId: id, clientName: id, redirectUris: ['http://127.0.0.1/cb'], registration: 'dcr' as const, createdAt: fx.clock.now(), expiresAt: fx.clock.now() + 60_000 });
        for (let i = 0; i < CONTRACT_ONE_TIME_CAPACITY; i++) await fx.stores.oauth.clients.put(`c${i}`, client(`c${i}`));
        await expect(fx.stores.oauth.clients.put('extra', client('extra'))).rejects.toBeInstanceOf(StoreFullError);
        expect(await fx.stores.oauth.clients.get('c0')).toMatchObject({ clientId: 'c0' });
        fx.clock.advance(60_000);
        await fx.stores.oauth.clients.put('extra', client('extra'));
      });

      describe('token families, listed per user (connected MCP clients)', () => {
        const family = (id: string, user: UserIdentity, ttlMs = HOUR): TokenFamilyRecord => ({
          id,
          clientId: `pcc_${id}`,
          clientName: `Client ${id}`,
          resource: 'https://broker.example.com/mcp/a',
          scope: 'mcp',
          user,
          accessTokens: [{ id: `at-${id}`, expiresAt: fx.clock.now() + 600_000 }],
          loginSessionId: 'ls1',
          createdAt: fx.clock.now(),
          expiresAt: fx.clock.now() + ttlMs,
        });
        const ids = async (stores: Stores, user: UserIdentity) => (await stores.oauth.families.listByUser(user.id)).map((f) => f.id);

        it("lists only the user's live families, oldest first, with every field intact", async () => {
          const first = family('f1', alice);
          await fx.stores.oauth.families.put('f1', first);
          fx.clock.advance(1000);
          await fx.stores.oauth.families.put('f2', family('f2', alice, 2 * HOUR));
          await fx.stores.oauth.families.put('f3', family('f3', bob));
          expect(await ids(fx.stores, alice)).toEqual(['f1', 'f2']);
          expect((await fx.stores.oauth.families.listByUser(alice.id))[0]).toEqual(first);
          expect(await ids(fx.stores, bob)).toEqual(['f3']);
          // Rewriting a family (a refresh adds its access token) keeps one entry.
          await fx.stores.oauth.families.put('f1', { ...first, accessTokens: [] });
          expect(await ids(fx.stores, alice)).toEqual(['f1', 'f2']);
        });

        it('never lists an expired or taken family', async () => {
          await fx.stores.oauth.families.put('f1', family('f1', alice));
          await fx.stores.oauth.families.put('f2', family('f2', alice, 2 * HOUR));
          await fx.stores.oauth.families.put('f3', family('f3', alice, 2 * HOUR));
          expect(await fx.stores.oauth.families.take('f3')).toMatchObject({ id: 'f3' });
          expect(await fx.stores.oauth.families.take('f3')).toBeNull();
          fx.clock.advance(HOUR);
          expect(await ids(fx.stores, alice)).toEqual(['f2']);
          fx.clock.advance(HOUR);
          expect(await ids(fx.stores, alice)).toEqual([]);
        });

        it(`bounds a user at ${TOKEN_FAMILIES_PER_USER} live families, evicting none; rewriting one still works, and room comes back as they expire`, async () => {
          for (let i = 0; i < TOKEN_FAMILIES_PER_USER; i++) await fx.stores.oauth.families.put(`f${i}`, family(`f${i}`, alice, i === 0 ? HOUR / 2 : HOUR));
          await expect(fx.stores.oauth.families.put('extra', family('extra', alice))).rejects.toBeInstanceOf(StoreFullError);
          await fx.stores.oauth.families.put('f1', family('f1', alice));
          await fx.stores.oauth.families.put('bob', family('bob', bob));
          expect(await fx.stores.oauth.families.listByUser(alice.id)).toHaveLength(TOKEN_FAMILIES_PER_USER);
          fx.clock.advance(HOUR / 2);
          await fx.stores.oauth.families.put('extra', family('extra', alice));
          expect(await ids(fx.stores, alice)).toContain('extra');
        });

        it("keeps each user's list across a restart; a taken family stays gone", async () => {
          await fx.stores.oauth.families.put('f1', family('f1', alice));
          await fx.stores.oauth.families.put('f2', family('f2', alice));
          await fx.stores.oauth.families.take('f2');
          const again = await restart();
          expect(await ids(again, alice)).toEqual(['f1']);
        });
      });

      it('keeps tokens and consents across a restart; a taken one stays gone', async () => {
        const record = accessToken(fx.clock);
        await fx.stores.oauth.accessTokens.put(record.id, record);
        await fx.stores.oauth.accessTokens.put('at2', { ...record, id: 'at2' });
        await fx.stores.oauth.accessTokens.take('at2');
        await fx.stores.oauth.consents.put('k', { grantedAt: fx.clock.now(), expiresAt: fx.clock.now() + HOUR });
        const again = await restart();
        expect(await again.oauth.accessTokens.get('at1')).toEqual(record);
        expect(await again.oauth.accessTokens.get('at2')).toBeNull();
        expect(await again.oauth.consents.get('k')).not.toBeNull();
      });
    });

    describe('rate limits', () => {
      it('allows `points` per key in a window, then refuses with the time until it refills', async () => {
        const limiter = fx.stores.rateLimits.limiter('contract', { points: 3, durationSeconds: 60 });
        const decisions = [];
        for (let i = 0; i < 4; i++) decisions.push(await limiter.consume('192.0.2.1'));
        expect(decisions.slice(0, 3)).toEqual([{ allowed: true }, { allowed: true }, { allowed: true }]);
        expect(decisions[3]).toMatchObject({ allowed: false });
        const { retryAfterMs } = decisions[3] as { retryAfterMs: number };
        expect(retryAfterMs).toBeGreaterThan(0);
        expect(retryAfterMs).toBeLessThanOrEqual(60_000);
      });

      it('counts each key and each limiter name apart', async () => {
        const limiter = fx.stores.rateLimits.limiter('contract', { points: 1, durationSeconds: 60 });
        expect(await limiter.consume('192.0.2.1')).toEqual({ allowed: true });
        expect(await limiter.consume('192.0.2.1')).toMatchObject({ allowed: false });
        expect(await limiter.consume('192.0.2.2')).toEqual({ allowed: true });
        expect(await fx.stores.rateLimits.limiter('other', { points: 1, durationSeconds: 60 }).consume('192.0.2.1')).toEqual({ allowed: true });
      });

      it('takes several points at once', async () => {
        const limiter = fx.stores.rateLimits.limiter('contract', { points: 3, durationSeconds: 60 });
        expect(await limiter.consume('user:alice', 2)).toEqual({ allowed: true });
        expect(await limiter.consume('user:alice', 2)).toMatchObject({ allowed: false });
      });

      // rate-limiter-flexible keeps its own time (Date.now in memory, the TTL in Redis), so
      // this one waits out a real one-second window instead of moving the test clock.
      it('refills once the window has passed', async () => {
        const limiter = fx.stores.rateLimits.limiter('contract', { points: 1, durationSeconds: 1 });
        expect(await limiter.consume('192.0.2.1')).toEqual({ allowed: true });
        const refused = await limiter.consume('192.0.2.1');
        expect(refused).toMatchObject({ allowed: false });
        await new Promise((resolve) => setTimeout(resolve, (refused as { retryAfterMs: number }).retryAfterMs + 100));
        expect(await limiter.consume('192.0.2.1')).toEqual({ allowed: true });
      });
    });

    describe('assertion replay cache', () => {
      it('accepts an assertion id once, even under a race', async () => {
        const expiresAt = fx.clock.now() + 300_000;
        const results = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map(() => fx.stores.assertionReplay.consume('_a1', expiresAt)));
        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await fx.stores.assertionReplay.consume('_a1', expiresAt)).toBe(false);
      });

      it('forgets an id only after its expiresAt', async () => {
        await fx.stores.assertionReplay.consume('_a2', fx.clock.now() + 1000);
        fx.clock.advance(999);
        expect(await fx.stores.assertionReplay.consume('_a2', fx.clock.now() + 1000)).toBe(false);
        fx.clock.advance(1);
        expect(await fx.stores.assertionReplay.consume('_a2', fx.clock.now() + 1000)).toBe(true);
      });
    });

    describe('leases (per-user caps across instances)', () => {
      const until = () => fx.clock.now() + 60_000;

      it('never holds more than the limit, however many race for it', async () => {
        const taken = await Promise.all(Array.from({ length: 12 }, (_, i) => fx.stores.leases.acquire('u1', `s${i}`, 5, until())));
        expect(taken.filter(Boolean)).toHaveLength(5);
        expect(await fx.stores.leases.acquire('u2', 'other-group', 5, until())).toBe(true);
      });

      it('re-acquiring a held lease renews it instead of counting twice', async () => {
        expect(await fx.stores.leases.acquire('u1', 'a', 1, until())).toBe(true);
        expect(await fx.stores.leases.acquire('u1', 'a', 1, until())).toBe(true);
        expect(await fx.stores.leases.acquire('u1', 'b', 1, until())).toBe(false);
      });

      it('frees a place on release', async () => {
        await fx.stores.leases.acquire('u1', 'a', 1, until());
        await fx.stores.leases.release('u1', 'a');
        expect(await fx.stores.leases.acquire('u1', 'b', 1, until())).toBe(true);
      });

      it('frees a place when a lease lapses, unless it was renewed', async () => {
        await fx.stores.leases.acquire('u1', 'a', 2, fx.clock.now() + 1000);
        await fx.stores.leases.acquire('u1', 'b', 2, fx.clock.now() + 1000);
        fx.clock.advance(500);
        await fx.stores.leases.renew('u1', ['a'], fx.clock.now() + 1000);
        fx.clock.advance(500);
        expect(await fx.stores.leases.acquire('u1', 'c', 2, until())).toBe(true);
        expect(await fx.stores.leases.acquire('u1', 'd', 2, until())).toBe(false);
      });

      it('revives a lease its holder renews after it lapsed (an outage longer than the lease): live sessions stay counted', async () => {
        await fx.stores.leases.acquire('u1', 'a', 1, fx.clock.now() + 1000);
        fx.clock.advance(1000);
        await fx.stores.leases.renew('u1', ['a'], fx.clock.now() + 1000);
        expect(await fx.stores.leases.acquire('u1', 'b', 1, until())).toBe(false);
      });
    });

    describe('access requests and grants', () => {
      it('creates a request once and reads it back intact', async () => {
        const request = requestRecord('r1', fx.clock);
        expect(await fx.stores.access.createRequest(request)).toBe(true);
        expect(await fx.stores.access.createRequest(request)).toBe(false);
        expect(await fx.stores.access.getRequest('r1')).toEqual(request);
        expect(await fx.stores.access.getRequest('nope')).toBeNull();
      });

      it('updates compare-and-set on the version: of 20 racing approvals one wins and one grant exists', async () => {
        const request = requestRecord('r2', fx.clock);
        await fx.stores.access.createRequest(request);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => {
            const grant = grantRecord(`g${i}`, request, fx.clock);
            return fx.stores.access.updateRequest({ ...request, status: 'APPROVED', grantId: grant.id, version: 2 }, grant);
          }),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const stored = await fx.stores.access.getRequest('r2');
        expect(stored).toMatchObject({ status: 'APPROVED', version: 2 });
        expect(await fx.stores.access.getGrant(stored!.grantId!)).toMatchObject({ requestId: 'r2' });
        const grants = await fx.stores.access.listGrants({ limit: 100 });
        expect(grants.map((g) => g.record.id)).toEqual([stored!.grantId]);
        expect(await fx.stores.access.updateRequest({ ...request, version: 2 })).toBe(false);
      });

      it('reads a request and grant stored before issue 14 as tools-only: no resources, no prompts, not read-only, no argument rules', async () => {
        const scopeKeys = ['rule', 'resources', 'denyResources', 'prompts', 'denyPrompts', 'readOnly', 'arguments'] as const;
        const old = <T extends object>(record: T): T => Object.fromEntries(Object.entries(record).filter(([key]) => !(scopeKeys as readonly string[]).includes(key) && key !== 'readOnlyTools')) as T;
        const request = old(requestRecord('r-old', fx.clock, { status: 'APPROVED', grantId: 'g-old' }));
        await fx.stores.access.createRequest(request, old(grantRecord('g-old', request, fx.clock)));
        const migrated = { rule: null, resources: [], denyResources: [], prompts: [], denyPrompts: [], readOnly: false, arguments: {} };
        expect(await fx.stores.access.getRequest('r-old')).toEqual({ ...request, ...migrated });
        expect(await fx.stores.access.getGrant('g-old')).toMatchObject({ tools: ['echo'], ...migrated });
        expect((await fx.stores.access.listGrants({ limit: 10 })).find((g) => g.record.id === 'g-old')?.record).toMatchObject(migrated);
        expect((await fx.stores.access.listRequests({ limit: 10 })).find((r) => r.record.id === 'r-old')?.record).toMatchObject(migrated);
      });

      it('creates an auto-approved request and its grant in one step', async () => {
        const request = requestRecord('r3', fx.clock, { status: 'APPROVED', grantId: 'g3', decidedAt: fx.clock.now() });
        await fx.stores.access.createRequest(request, grantRecord('g3', request, fx.clock));
        expect(await fx.stores.access.getGrant('g3')).toMatchObject({ requestId: 'r3' });
      });

      it('lists newest first with cursors, for everyone or one requester', async () => {
        for (let i = 0; i < 5; i++) {
          await fx.stores.access.createRequest(requestRecord(`req-${i}`, fx.clock, i % 2 ? { requester: bob } : {}));
          fx.clock.advance(1000);
        }
        const first = await fx.stores.access.listRequests({ limit: 2 });
        const rest = await fx.stores.access.listRequests({ after: first.at(-1)!.cursor, limit: 10 });
        expect([...first, ...rest].map((l) => l.record.id)).toEqual(['req-4', 'req-3', 'req-2', 'req-1', 'req-0']);
        expect((await fx.stores.access.listRequests({ requesterId: bob.id, limit: 10 })).map((l) => l.record.id)).toEqual(['req-3', 'req-1']);
        await expect(fx.stores.access.listRequests({ after: 'bogus', limit: 1 })).rejects.toBeInstanceOf(InvalidCursorError);
      });

      it('keeps a grant listed while it is retained, however long ago it was issued and whatever is written since, and drops it once its retention ends', async () => {
        const DAY = 86_400_000;
        const issue = async (id: string, days: number) => {
          const request = requestRecord(`r-${id}`, fx.clock, { status: 'APPROVED', grantId: id, decidedAt: fx.clock.now(), durationSeconds: days * 86_400 });
          await fx.stores.access.createRequest(request, grantRecord(id, request, fx.clock, { expiresAt: fx.clock.now() + days * DAY }));
        };
        const listed = async () => ({
          grants: (await fx.stores.access.listGrants({ limit: 10 })).map((l) => l.record.id),
          alices: (await fx.stores.access.listGrants({ userId: alice.id, limit: 10 })).map((l) => l.record.id),
          requests: (await fx.stores.access.listRequests({ requesterId: alice.id, limit: 10 })).map((l) => l.record.id),
        });
        await issue('g-long', 90);
        fx.clock.advance(31 * DAY);
        await issue('g-later', 1);
        // Issued 31 days ago, still in force for 59 more: reviewers must see it to revoke it.
        expect(await listed()).toEqual({ grants: ['g-later', 'g-long'], alices: ['g-later', 'g-long'], requests: ['r-g-later', 'r-g-long'] });
        // 121 days in: g-long ended 31 days ago, g-later 89 days ago; both are retained 30 days past their end.
        fx.clock.advance(90 * DAY);
        await issue('g-next', 1);
        expect(await listed()).toEqual({ grants: ['g-next'], alices: ['g-next'], requests: ['r-g-next'] });
      });

      it('names pending requests and live grants that are past their expiry', async () => {
        const pending = requestRecord('due-r', fx.clock, { expiresAt: fx.clock.now() + 1000 });
        const decided = requestRecord('done-r', fx.clock, { expiresAt: fx.clock.now() + 1000, status: 'DENIED' });
        await fx.stores.access.createRequest(pending);
        await fx.stores.access.createRequest(decided);
        const granted = requestRecord('granted-r', fx.clock, { status: 'APPROVED', grantId: 'due-g' });
        const grant = grantRecord('due-g', granted, fx.clock, { expiresAt: fx.clock.now() + 2000 });
        await fx.stores.access.createRequest(granted, grant);
        expect(await fx.stores.access.dueRequests(fx.clock.now(), 10)).toEqual([]);
        fx.clock.advance(2000);
        expect(await fx.stores.access.dueRequests(fx.clock.now(), 10)).toEqual(['due-r']);
        expect(await fx.stores.access.dueGrants(fx.clock.now(), 10)).toEqual(['due-g']);
        expect(await fx.stores.access.updateGrant({ ...grant, expiredAt: fx.clock.now(), version: 2 })).toBe(true);
        expect(await fx.stores.access.dueGrants(fx.clock.now(), 10)).toEqual([]);
        expect(await fx.stores.access.updateGrant({ ...grant, revokedAt: fx.clock.now(), version: 2 })).toBe(false);
      });

      it('runs work under one key one at a time', async () => {
        let inside = 0;
        let overlaps = 0;
        await Promise.all(
          Array.from({ length: 8 }, () =>
            fx.stores.access.withLock('k', async () => {
              inside++;
              if (inside > 1) overlaps++;
              await new Promise((r) => setTimeout(r, 5));
              inside--;
            }),
          ),
        );
        expect(overlaps).toBe(0);
        await expect(fx.stores.access.withLock('k', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
        expect(await fx.stores.access.withLock('k', async () => 'free again')).toBe('free again');
      });
    });

    describe('tool pins', () => {
      const seen = (hash: string): ToolDefinitionSeen => ({ hash, definition: JSON.stringify({ name: 'echo', description: hash }), truncated: false, at: fx.clock.now() });

      it('pins the first definition seen: of racing writers exactly one pins, and the others see its pin', async () => {
        const answers = await Promise.all(['h1', 'h1', 'h2', 'h3'].map((hash) => fx.stores.toolPins.check('everything', 'echo', seen(hash))));
        expect(answers.filter((a) => a.verdict === 'pinned' && a.created)).toHaveLength(1);
        const winner = ['h1', 'h1', 'h2', 'h3'][answers.findIndex((a) => a.verdict === 'pinned' && a.created)]!;
        expect(await fx.stores.toolPins.check('everything', 'echo', seen(winner))).toEqual({ verdict: 'pinned', created: false });
        expect(await fx.stores.toolPins.check('other', 'echo', seen('h9'))).toEqual({ verdict: 'pinned', created: true });
      });

      it('records a differing definition as the pending change once, old and new side by side, and a newer one replaces it', async () => {
        await fx.stores.toolPins.check('everything', 'echo', seen('old'));
        fx.clock.advance(1000);
        expect(await fx.stores.toolPins.check('everything', 'echo', seen('new'))).toEqual({ verdict: 'changed', pinnedHash: 'old', recorded: true });
        expect(await fx.stores.toolPins.check('everything', 'echo', seen('new'))).toEqual({ verdict: 'changed', pinnedHash: 'old', recorded: false });
        expect(await fx.stores.toolPins.changes('everything')).toEqual([{ server: 'everything', tool: 'echo', pinned: seen('old'), seen: seen('new') }].map((c) => ({ ...c, pinned: { ...c.pinned, at: c.seen.at - 1000 } })));
        expect(await fx.stores.toolPins.check('everything', 'echo', seen('newer'))).toMatchObject({ verdict: 'changed', recorded: true });
        expect((await fx.stores.toolPins.changes()).map((c) => c.seen.hash)).toEqual(['newer']);
        expect(await fx.stores.toolPins.changes('other')).toEqual([]);
      });

      it('accepts only the pending hash: the tool is re-pinned to it and the change is gone', async () => {
        await fx.stores.toolPins.check('everything', 'echo', seen('old'));
        await fx.stores.toolPins.check('everything', 'echo', seen('new'));
        expect(await fx.stores.toolPins.accept('everything', 'echo', 'other')).toBeNull();
        expect(await fx.stores.toolPins.accept('everything', 'echo', 'new')).toMatchObject({ server: 'everything', tool: 'echo', pinned: { hash: 'old' }, seen: { hash: 'new' } });
        expect(await fx.stores.toolPins.accept('everything', 'echo', 'new')).toBeNull();
        expect(await fx.stores.toolPins.changes()).toEqual([]);
        expect(await fx.stores.toolPins.check('everything', 'echo', seen('new'))).toEqual({ verdict: 'pinned', created: false });
        expect(await fx.stores.toolPins.check('everything', 'echo', seen('old'))).toMatchObject({ verdict: 'changed', pinnedHash: 'new' });
      });

      it('pins at most its capacity of tools per server (a flood of names cannot grow it), and keeps pins across a restart', async () => {
        for (let i = 0; i < CONTRACT_TOOL_PIN_CAPACITY; i++) expect(await fx.stores.toolPins.check('everything', `t${i}`, seen('h'))).toMatchObject({ verdict: 'pinned' });
        expect(await fx.stores.toolPins.check('everything', 'one-too-many', seen('h'))).toEqual({ verdict: 'full' });
        expect(await fx.stores.toolPins.check('other', 'fine', seen('h'))).toMatchObject({ verdict: 'pinned', created: true });
        await fx.stores.toolPins.check('everything', 't0', seen('changed'));
        const again = await restart();
        expect(await again.toolPins.check('everything', 't1', seen('h'))).toEqual({ verdict: 'pinned', created: false });
        expect(await again.toolPins.check('everything', 'one-too-many', seen('h'))).toEqual({ verdict: 'full' });
        expect((await again.toolPins.changes('everything')).map((c) => c.tool)).toEqual(['t0']);
      });
    });

    describe('across a restart (a new instance on the same data)', () => {
      it('keeps login sessions, and a deleted one stays deleted', async () => {
        const kept: LoginSession = { id: 's1', secretHash: 'h1', user: alice, createdAt: fx.clock.now(), expiresAt: fx.clock.now() + HOUR };
        await fx.stores.sessions.create(kept);
        await fx.stores.sessions.create({ ...kept, id: 's2' });
        await fx.stores.sessions.delete('s2');
        const again = await restart();
        expect(await again.sessions.get('s1')).toEqual(kept);
        expect(await again.sessions.get('s2')).toBeNull();
      });

      it('keeps API tokens and the list of each user’s tokens; a revoked one stays revoked', async () => {
        await fx.stores.tokens.create(token('t1', alice, fx.clock));
        fx.clock.advance(1000);
        await fx.stores.tokens.create(token('t2', alice, fx.clock));
        await fx.stores.tokens.create(token('t3', bob, fx.clock));
        await fx.stores.tokens.delete('t2');
        const again = await restart();
        expect((await again.tokens.listByUser(alice.id)).map((t) => t.id)).toEqual(['t1']);
        expect((await again.tokens.listByUser(bob.id)).map((t) => t.id)).toEqual(['t3']);
        expect(await again.tokens.get('t1')).toMatchObject({ user: alice, secretHash: 'hash-t1' });
        expect(await again.tokens.delete('t1')).toMatchObject({ id: 't1' });
        expect(await again.tokens.listByUser(alice.id)).toEqual([]);
      });

      it('keeps one-time values, each still taken once, and counts them against the capacity', async () => {
        await fx.stores.samlRequests.put('_taken', 'corp', fx.clock.now() + 60_000);
        await fx.stores.samlRequests.take('_taken');
        for (let i = 0; i < CONTRACT_ONE_TIME_CAPACITY; i++) await fx.stores.samlRequests.put(`_req${i}`, 'corp', fx.clock.now() + 60_000);
        await fx.stores.cliLoginCodes.put('code', 'session', fx.clock.now() + 60_000);
        const again = await restart();
        expect(await again.samlRequests.take('_taken')).toBeNull();
        await expect(again.samlRequests.put('_extra', 'corp', fx.clock.now() + 60_000)).rejects.toBeInstanceOf(StoreFullError);
        const takes = await Promise.all([1, 2, 3].map(() => again.samlRequests.take('_req0')));
        expect(takes.filter((t) => t !== null)).toEqual(['corp']);
        expect(await again.cliLoginCodes.take('code')).toBe('session');
      });

      it('keeps consumed assertion ids: a replay after the restart is still refused', async () => {
        expect(await fx.stores.assertionReplay.consume('_a1', fx.clock.now() + 300_000)).toBe(true);
        const again = await restart();
        expect(await again.assertionReplay.consume('_a1', fx.clock.now() + 300_000)).toBe(false);
      });

      it('keeps requests and grants with their versions: compare-and-set goes on where it stood', async () => {
        const pending = requestRecord('r-pending', fx.clock);
        const approved = requestRecord('r-approved', fx.clock, { status: 'APPROVED', grantId: 'g1', decidedAt: fx.clock.now() });
        const grant = grantRecord('g1', approved, fx.clock);
        await fx.stores.access.createRequest(pending);
        await fx.stores.access.createRequest(approved, grant);
        const revoked = { ...grant, revokedAt: fx.clock.now(), revokedBy: 'bob@example.com', revokeReason: 'done', version: 2 };
        expect(await fx.stores.access.updateGrant(revoked)).toBe(true);
        const again = await restart();
        expect(await again.access.getRequest('r-pending')).toEqual(pending);
        expect(await again.access.getGrant('g1')).toEqual(revoked);
        expect((await again.access.listRequests({ limit: 10 })).map((l) => l.record.id).sort()).toEqual(['r-approved', 'r-pending']);
        expect((await again.access.listGrants({ userId: alice.id, limit: 10 })).map((l) => l.record)).toEqual([revoked]);
        expect(await again.access.updateGrant({ ...grant, version: 2 })).toBe(false);
        expect(await again.access.updateRequest({ ...pending, status: 'CANCELLED', version: 2 })).toBe(true);
        expect(await again.access.createRequest(pending)).toBe(false);
      });

      it('does not bring back what expired while it was down', async () => {
        const soon = fx.clock.now() + 1000;
        await fx.stores.sessions.create({ id: 's1', secretHash: 'h', user: alice, createdAt: fx.clock.now(), expiresAt: soon });
        await fx.stores.tokens.create(token('t1', alice, fx.clock, 1000));
        await fx.stores.samlRequests.put('_req', 'corp', soon);
        await fx.stores.cliLoginCodes.put('code', 'session', soon);
        await fx.stores.assertionReplay.consume('_a', soon);
        await fx.stores.close();
        opened.splice(opened.indexOf(fx.stores), 1);
        fx.clock.advance(1000);
        const again = await reopen();
        expect(await again.sessions.get('s1')).toBeNull();
        expect(await again.tokens.get('t1')).toBeNull();
        expect(await again.tokens.listByUser(alice.id)).toEqual([]);
        expect(await again.samlRequests.get('_req')).toBeNull();
        expect(await again.cliLoginCodes.get('code')).toBeNull();
        expect(await again.assertionReplay.consume('_a', fx.clock.now() + 1000)).toBe(true);
      });
    });

    describe('event bus', () => {
      it('delivers a dispatched event detail to listeners of its type', async () => {
        const received = new Promise<unknown>((resolve) => fx.stores.events.addEventListener('grant.revoked', (e) => resolve((e as CustomEvent).detail), { once: true }));
        // Redis needs a moment to register the subscription.
        await new Promise((r) => setTimeout(r, 50));
        fx.stores.events.dispatchEvent(new CustomEvent('grant.revoked', { detail: { grantId: 'g1' } }));
        expect(await received).toEqual({ grantId: 'g1' });
      });
    });

    describe('audit log', () => {
      it('chains each appended event to its predecessor, starting from the genesis hash', async () => {
        const first = await fx.stores.audit.append(event(1, { server: 'everything', tool: 'echo', sessionId: 'sess' }));
        const second = await fx.stores.audit.append(event(2, { outcome: 'DENIED', actor: null }));
        expect(first).toMatchObject({ type: 'auth.login', outcome: 'SUCCESS', server: 'everything', tool: 'echo', sessionId: 'sess', data: { n: 1 } });
        expect(first.time).toBe(new Date(fx.clock.now()).toISOString());
        expect(first.prevHash).toBe(GENESIS_HASH);
        expect(second.prevHash).toBe(first.hash);
        expect(second).toMatchObject({ outcome: 'DENIED', actor: null, server: null, tool: null, sessionId: null });
        expect(findChainBreak([first, second], GENESIS_HASH)).toBeNull();
        expect(await fx.stores.audit.read({ limit: 10 })).toEqual([first, second]);
      });

      it('keeps one unbroken chain in order under concurrent appends', async () => {
        const appended = await Promise.all(Array.from({ length: 300 }, (_, i) => fx.stores.audit.append(event(i))));
        const log = await fx.stores.audit.read({ limit: 1000 });
        expect(log).toHaveLength(300);
        expect(findChainBreak(log, GENESIS_HASH)).toBeNull();
        expect(new Set(log.map((e) => e.id)).size).toBe(300);
        // Every caller got back exactly the event the log holds.
        const byId = new Map(log.map((e) => [e.id, e]));
        for (const e of appended) expect(byId.get(e.id)).toEqual(e);
      });

      it('pages after a cursor in log order', async () => {
        for (let i = 0; i < 7; i++) await fx.stores.audit.append(event(i));
        const page1 = await fx.stores.audit.read({ limit: 3 });
        const page2 = await fx.stores.audit.read({ after: page1.at(-1)!.id, limit: 3 });
        const page3 = await fx.stores.audit.read({ after: page2.at(-1)!.id, limit: 3 });
        expect([...page1, ...page2, ...page3].map((e) => e.data.n)).toEqual([0, 1, 2, 3, 4, 5, 6]);
        expect(await fx.stores.audit.read({ after: page3.at(-1)!.id, limit: 3 })).toEqual([]);
      });

      it('reads back in time from the newest event, page by page, before a cursor exclusively', async () => {
        expect(await fx.stores.audit.readBackward({ limit: 3 })).toEqual([]);
        for (let i = 0; i < 7; i++) await fx.stores.audit.append(event(i));
        const page1 = await fx.stores.audit.readBackward({ limit: 3 });
        const page2 = await fx.stores.audit.readBackward({ before: page1.at(-1)!.id, limit: 3 });
        const page3 = await fx.stores.audit.readBackward({ before: page2.at(-1)!.id, limit: 3 });
        expect([page1, page2, page3].map((page) => page.map((e) => e.data.n))).toEqual([[6, 5, 4], [3, 2, 1], [0]]);
        expect(await fx.stores.audit.readBackward({ before: page3.at(-1)!.id, limit: 3 })).toEqual([]);
        // The same events as reading forward, in the opposite order.
        expect([...page1, ...page2, ...page3].reverse()).toEqual(await fx.stores.audit.read({ limit: 100 }));
      });

      it('hands a verifier the log as stored, from where retention made it start', async () => {
        for (let n = 0; n < 4; n++) await fx.stores.audit.append(event(n));
        await fx.stores.audit.trim({ keep: 3 });
        const report = await verifyLog(await fx.stores.audit.stored(), {});
        expect(report).toMatchObject({ events: 3, broken: null, lastHash: await fx.stores.audit.headHash() });
      });

      it('reads back only what retention kept', async () => {
        for (let n = 0; n < 5; n++) await fx.stores.audit.append(event(n));
        const all = await fx.stores.audit.read({ limit: 100 });
        await fx.stores.audit.trim({ keep: 2 });
        expect((await fx.stores.audit.readBackward({ limit: 10 })).map((e) => e.data.n)).toEqual([4, 3]);
        expect((await fx.stores.audit.readBackward({ before: all[4]!.id, limit: 10 })).map((e) => e.data.n)).toEqual([3]);
        await expect(fx.stores.audit.readBackward({ before: all[0]!.id, limit: 1 })).rejects.toBeInstanceOf(InvalidCursorError);
      });

      it('refuses a cursor it did not issue: another format, or past the newest event', async () => {
        await fx.stores.audit.append(event(0));
        for (const cursor of [fx.foreignCursor, fx.unissuedCursor]) {
          await expect(fx.stores.audit.read({ after: cursor, limit: 1 })).rejects.toBeInstanceOf(InvalidCursorError);
          await expect(fx.stores.audit.readBackward({ before: cursor, limit: 1 })).rejects.toBeInstanceOf(InvalidCursorError);
          const iterator = fx.stores.audit.tail({ after: cursor }, new AbortController().signal)[Symbol.asyncIterator]();
          await expect(iterator.next()).rejects.toBeInstanceOf(InvalidCursorError);
        }
      });

      describe('one event can never fail another: each is admitted alone before it joins a batch', () => {
        const lone = '\ud800';
        const refused: [what: string, change: Partial<AuditEventInput>, message: RegExp][] = [
          ['a lone surrogate in data', { data: { params: { arguments: { q: `a${lone}b` } } } }, /field data\.params\.arguments\.q holds ill-formed Unicode text/],
          ['a lone surrogate in a data key', { data: { params: { [`k${lone}`]: 1 } } }, /field data\.params\.k\uFFFD holds ill-formed/],
          ['a lone surrogate in actor', { actor: `alice${lone}@example.com` }, /field actor holds ill-formed/],
          ['a lone surrogate in tool', { tool: lone }, /field tool holds ill-formed/],
          ['data JSON cannot hold', { data: { big: 1n } as unknown as Record<string, unknown> }, /field data is not JSON/],
          ['an event over the size limit', { data: { blob: 'x'.repeat(MAX_EVENT_BYTES) } }, /bytes, more than the 262144 the log accepts/],
          ['an outcome a reader would refuse', { outcome: 'MAYBE' as AuditEventInput['outcome'] }, /field outcome must be/],
        ];
        for (const [what, change, message] of refused) {
          it(`refuses ${what} with INVALID_INPUT; the rest of a concurrent burst is stored and verifies`, async () => {
            const results = await Promise.allSettled(Array.from({ length: 40 }, (_, n) => fx.stores.audit.append(event(n, n === 20 ? change : {}))));
            expect(results.map((r) => r.status).filter((s) => s === 'rejected')).toHaveLength(1);
            const reason = (results[20] as PromiseRejectedResult).reason as InvalidInputError;
            expect(reason).toBeInstanceOf(InvalidInputError);
            expect(reason.code).toBe('INVALID_INPUT');
            expect(reason.message).toMatch(message);
            expect(reason.message.isWellFormed()).toBe(true);
            const log = await fx.stores.audit.read({ limit: 100 });
            expect(log.map((e) => e.data.n)).toEqual(Array.from({ length: 40 }, (_, n) => n).filter((n) => n !== 20));
            expect(findChainBreak(log, GENESIS_HASH)).toBeNull();
          });
        }
      });

      describe('signed checkpoints', () => {
        const INTERVAL = 300_000;
        const key = auditKeyPair();
        const keys = new AuditKeyRing([key.publicKey]);
        /** This fixture's data, reopened as an instance configured to seal it. */
        const sealing = () => restart({ retention: true, checkpoints: { signer: new AuditSigner(key.privateKey), intervalMs: INTERVAL } });
        const verify = async (stores: Stores) =>
          verifyChain([await stores.audit.read({ limit: 100 })], { anchor: await stores.audit.anchor(), keys, maxGapMs: 3 * INTERVAL, now: fx.clock.now() });

        it('seals the chain head before it when this instance appended since its last checkpoint, or half an interval passed idle, and says when it is the last', async () => {
          const stores = await sealing();
          const first = await stores.audit.append(event(1));
          const checkpoint = await stores.audit.checkpoint();
          expect(checkpoint).toMatchObject({ type: 'audit.checkpoint', outcome: 'SUCCESS', actor: null, prevHash: first.hash });
          expect(checkpoint!.data).toEqual({ prevHash: first.hash, every: INTERVAL / 1000, keyId: keys.keyIds[0], algorithm: 'Ed25519', time: checkpoint!.time, signature: expect.any(String) });
          expect(await stores.audit.checkpoint()).toBeNull();
          fx.clock.advance(INTERVAL / 2);
          const idle = await stores.audit.checkpoint();
          expect(idle).toMatchObject({ prevHash: checkpoint!.hash, data: { every: INTERVAL / 1000 } });
          expect(idle!.data.final).toBeUndefined();
          const last = await stores.audit.checkpoint({ final: true });
          expect(last).toMatchObject({ prevHash: idle!.hash, data: { every: INTERVAL / 1000, final: true } });
          expect(await verify(stores)).toMatchObject({ broken: null, checkpoints: { count: 4, verified: true, lastTime: last!.time, eventsAfter: 0 } });
        });

        it('seals before the first event after a quiet spell of an interval, so events lie at most two intervals between checkpoints', async () => {
          const stores = await sealing();
          await stores.audit.append(event(1));
          fx.clock.advance(INTERVAL - 1);
          await stores.audit.append(event(2));
          await stores.audit.checkpoint();
          fx.clock.advance(INTERVAL);
          await stores.audit.append(event(3));
          const types = (await stores.audit.read({ limit: 100 })).map((e) => (e.type === 'audit.checkpoint' ? 'checkpoint' : e.data.n));
          expect(types).toEqual(['checkpoint', 1, 2, 'checkpoint', 'checkpoint', 3]);
          expect(await verify(stores)).toMatchObject({ broken: null, checkpoints: { count: 3, eventsAfter: 1 } });
        });

        it('refuses audit.checkpoint from any caller but the log itself', async () => {
          const stores = await sealing();
          await expect(stores.audit.append(event(1, { type: 'audit.checkpoint' }))).rejects.toBeInstanceOf(InvalidInputError);
        });
      });

      it('refuses to trim when retention is not configured: a log without it always starts at the genesis hash', async () => {
        const stores = await restart({ retention: false });
        await stores.audit.append(event(1));
        await stores.audit.append(event(2));
        await expect(stores.audit.trim({ keep: 1 })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
        expect(await stores.audit.anchor()).toBeNull();
      });

      it('tails from the start: replays, then follows live appends', async () => {
        await fx.stores.audit.append(event(0));
        const abort = new AbortController();
        const seen = collect(fx.stores.audit.tail('start', abort.signal), 3, abort);
        await fx.stores.audit.append(event(1));
        await fx.stores.audit.append(event(2));
        expect((await seen).map((e) => e.data.n)).toEqual([0, 1, 2]);
      });

      it('tails from the end: only events appended after it started', async () => {
        await fx.stores.audit.append(event(0));
        const abort = new AbortController();
        const iterator = fx.stores.audit.tail('end', abort.signal)[Symbol.asyncIterator]();
        const next = iterator.next();
        // Give the tail time to settle on the current end before appending.
        await new Promise((r) => setTimeout(r, 50));
        await fx.stores.audit.append(event(1));
        expect((await next).value?.data.n).toBe(1);
        abort.abort();
        expect((await iterator.next()).done).toBe(true);
      });

      it('paces a tail that asks for it: woken at most once per interval, what came meanwhile read in one go, in order', async () => {
        const paceMs = 400;
        await fx.stores.audit.append(event(0));
        const abort = new AbortController();
        const iterator = fx.stores.audit.tail('start', abort.signal, { paceMs })[Symbol.asyncIterator]();
        expect((await iterator.next()).value?.data.n).toBe(0);
        // Caught up: the first wait is not paced, so the next append arrives as it comes.
        const first = iterator.next();
        await fx.stores.audit.append(event(1));
        expect((await first).value?.data.n).toBe(1);
        const wokenAt = performance.now();
        await fx.stores.audit.append(event(2));
        await fx.stores.audit.append(event(3));
        // Only after the interval (a slower machine only makes it later), then both at once.
        expect((await iterator.next()).value?.data.n).toBe(2);
        expect(performance.now() - wokenAt).toBeGreaterThanOrEqual(paceMs - 50);
        expect((await iterator.next()).value?.data.n).toBe(3);
        abort.abort();
        expect((await iterator.next()).done).toBe(true);
      });

      it('tails after a cursor with no gap and no duplicate while a writer is appending', async () => {
        const total = 400;
        const writer = (async () => {
          for (let i = 0; i < total; i++) await fx.stores.audit.append(event(i));
        })();
        while ((await fx.stores.audit.read({ limit: 60 })).length < 60) await new Promise((r) => setTimeout(r, 1));
        const cursor = (await fx.stores.audit.read({ limit: 50 })).at(-1)!;
        const abort = new AbortController();
        const seen = await collect(fx.stores.audit.tail({ after: cursor.id }, abort.signal), total - 50, abort);
        await writer;
        expect(seen.map((e) => e.data.n)).toEqual(Array.from({ length: total - 50 }, (_, i) => i + 50));
        expect(findChainBreak(seen, cursor.hash)).toBeNull();
      });

      it('ends a tail waiting for events when the consumer leaves (return) without aborting', async () => {
        const iterator = fx.stores.audit.tail('end', new AbortController().signal)[Symbol.asyncIterator]();
        const pending = iterator.next();
        await new Promise((r) => setTimeout(r, 30));
        expect(await iterator.return!()).toMatchObject({ done: true });
        expect(await pending).toMatchObject({ done: true });
      });

      /** What the tail's next step comes to when the store closes while it waits (bounded: a tail that never ends says so). */
      const nextAfterClose = async (iterator: AsyncIterator<unknown>): Promise<unknown> => {
        const outcome = iterator.next().then(
          () => 'resolved',
          (error: unknown) => error,
        );
        await new Promise((r) => setTimeout(r, 30));
        await fx.stores.close();
        opened.splice(opened.indexOf(fx.stores), 1);
        return Promise.race([outcome, new Promise((r) => setTimeout(() => r('still waiting'), 5_000))]);
      };

      it('fails live tails with StoreUnavailableError when the store closes', async () => {
        expect(await nextAfterClose(fx.stores.audit.tail('end', new AbortController().signal)[Symbol.asyncIterator]())).toBeInstanceOf(StoreUnavailableError);
      });

      it('fails a paced tail with StoreUnavailableError when the store closes while it waits out its interval', async () => {
        await fx.stores.audit.append(event(0));
        const iterator = fx.stores.audit.tail('start', new AbortController().signal, { paceMs: 60_000 })[Symbol.asyncIterator]();
        expect((await iterator.next()).value?.data.n).toBe(0);
        const woken = iterator.next();
        await fx.stores.audit.append(event(1));
        expect((await woken).value?.data.n).toBe(1);
        // Now it sleeps out the minute before waiting again: the close must end it, not the minute.
        expect(await nextAfterClose(iterator)).toBeInstanceOf(StoreUnavailableError);
      });

      it('trims by count and by age, keeps the newest event, and what remains still verifies', async () => {
        for (let n = 0; n < 6; n++) {
          await fx.stores.audit.append(event(n));
          fx.clock.advance(60_000);
        }
        const all = await fx.stores.audit.read({ limit: 100 });
        expect(await fx.stores.audit.trim({ keep: 4 })).toBe(2);
        expect((await fx.stores.audit.read({ limit: 100 })).map((e) => e.data.n)).toEqual([2, 3, 4, 5]);
        expect((await fx.stores.audit.anchor())?.prevHash).toBe(all[1]!.hash);
        expect(await fx.stores.audit.trim({ before: Date.parse(all[4]!.time) })).toBe(2);
        const kept = await fx.stores.audit.read({ limit: 100 });
        expect(kept.map((e) => e.data.n)).toEqual([4, 5]);
        expect(findChainBreak(kept, (await fx.stores.audit.anchor())?.prevHash)).toBeNull();
        expect(await fx.stores.audit.trim({ keep: 1, before: fx.clock.now() + 1 })).toBe(1);
        expect((await fx.stores.audit.read({ limit: 100 })).map((e) => e.data.n)).toEqual([5]);
        // Appends chain on from the kept head; cursors older than the retained log are refused.
        const next = await fx.stores.audit.append(event(6));
        expect(next.prevHash).toBe(all[5]!.hash);
        await expect(fx.stores.audit.read({ after: all[0]!.id, limit: 1 })).rejects.toBeInstanceOf(InvalidCursorError);
        expect((await fx.stores.audit.read({ after: all[4]!.id, limit: 10 })).map((e) => e.data.n)).toEqual([5, 6]);
      });

      it('trims by count nothing from the earliest event held for a sink on, and by age all the same', async () => {
        for (let n = 0; n < 6; n++) {
          await fx.stores.audit.append(event(n));
          fx.clock.advance(60_000);
        }
        const all = await fx.stores.audit.read({ limit: 100 });
        // Two sinks behind, at events 3 and 2: the count of 2 removes 0 and 1 only.
        expect(await fx.stores.audit.trim({ keep: 2, holdFrom: [all[3]!.id, all[2]!.id] })).toBe(2);
        expect((await fx.stores.audit.read({ limit: 100 })).map((e) => e.data.n)).toEqual([2, 3, 4, 5]);
        // Held from an event retention already passed: the count removes nothing.
        expect(await fx.stores.audit.trim({ keep: 2, holdFrom: [all[0]!.id] })).toBe(0);
        // The age rule is not held.
        expect(await fx.stores.audit.trim({ before: Date.parse(all[4]!.time), holdFrom: [all[2]!.id] })).toBe(2);
        expect((await fx.stores.audit.read({ limit: 100 })).map((e) => e.data.n)).toEqual([4, 5]);
      });

      it('keeps the retained log and its chain start across a restart', async () => {
        for (let n = 0; n < 3; n++) await fx.stores.audit.append(event(n));
        const all = await fx.stores.audit.read({ limit: 100 });
        await fx.stores.audit.trim({ keep: 1 });
        const again = await restart();
        expect((await again.audit.anchor())?.prevHash).toBe(all[1]!.hash);
        expect((await again.audit.read({ limit: 10 })).map((e) => e.id)).toEqual([all[2]!.id]);
        expect((await again.audit.append(event(3))).prevHash).toBe(all[2]!.hash);
      });

      it('ends a tail when its signal aborts', async () => {
        const abort = new AbortController();
        const done = collect(fx.stores.audit.tail('start', abort.signal), Number.POSITIVE_INFINITY, abort);
        await new Promise((r) => setTimeout(r, 20));
        abort.abort();
        expect(await done).toEqual([]);
      });

      it('keeps the log and continues its chain across a restart', async () => {
        const before = await fx.stores.audit.append(event(1));
        const again = await restart();
        expect(await again.audit.read({ limit: 10 })).toEqual([before]);
        const after = await again.audit.append(event(2));
        expect(after.prevHash).toBe(before.hash);
      });
    });
  });
}
