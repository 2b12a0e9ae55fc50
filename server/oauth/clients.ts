import { clientAddressData } from '../audit/client-address.js';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import { StoreFullError } from '../errors.js';
import { SealedText } from '../stores/sealed-text.js';
import type { ExpiringRecords, OneTimeValueStore } from '../stores/types.js';
import { fetchClientMetadata } from './client-metadata-fetch.js';
import { OAuthError } from './oauth-error.js';
import { redirectUriMatches, redirectUriProblem } from './redirect-uris.js';
import type { OAuthClientRecord } from './types.js';

const MAX_REDIRECT_URIS = 20;
/** How long a registration lives before anyone obtains a token through it. */
const UNUSED_REGISTRATION_MS = 24 * 3600 * 1000;
const MAX_NAME_LENGTH = 100;
const CLIENT_ID_PREFIX = 'pcc_';
/**
 * The seal of a registration nobody has used yet (good for a day: what a key seals opens for
 * 15 days at least). At most 1 KB: the id travels in the authorization request's URL, which a
 * sign-in carries back as its return path (at most 2 KB, in SAML's RelayState); real
 * clients' registrations take 200 to 400 characters.
 */
const REGISTRATION_SEAL = { keyName: 'oauth-client-ids', label: 'portcullis-oauth-client-v1', keyLifetimeMs: 30 * 86_400_000, block: 64, maxEncodedLength: 1024 };
/** A registration's id: random as stored before (22 characters), or the sealed registration itself (longer). */
const REGISTERED_ID = new RegExp(`^${CLIENT_ID_PREFIX}[A-Za-z0-9_-]{22,${REGISTRATION_SEAL.maxEncodedLength}}$`);

/** What RFC 7591 §3.2.1 answers: the client as registered (our values where we chose them). */
export interface RegistrationResponse {
  client_id: string;
  client_id_issued_at: number;
  client_name: string;
  redirect_uris: string[];
  grant_types: string[];
  response_types: string[];
  token_endpoint_auth_method: 'none';
}

/**
 * The clients the authorization server knows: registered by RFC 7591 (open registration,
 * as MCP clients expect), or named by the https URL of their Client ID Metadata Document
 * (draft-ietf-oauth-client-id-metadata-document), fetched with SSRF guards and cached in
 * the shared store. Every client is public: PKCE, not a secret, binds its code.
 */
export class OAuthClients {
  private readonly registrations: SealedText;

  /** `keys`: the store's sealing keys (registrations are sealed into their client ids). */
  constructor(
    private readonly deps: { clients: ExpiringRecords<OAuthClientRecord>; keys: OneTimeValueStore; audit: AuditLog; clock: Clock; config: PortcullisConfig['oauth'] },
  ) {
    this.registrations = new SealedText(deps.keys, deps.clock, REGISTRATION_SEAL);
  }

  /**
   * RFC 7591 registration. Redirect URIs this broker does not allow are left out; none left
   * is an error. Nothing is stored: the registration is sealed into its client id, good for
   * a day, and stored only once a person obtains tokens through it (used()). Anyone may
   * register, so stored registrations would let anyone fill the store, and then nobody
   * could register for a day.
   */
  async register(body: unknown, address: string | undefined): Promise<RegistrationResponse> {
    const metadata = this.checkMetadata(body, 'invalid_client_metadata');
    const now = this.deps.clock.now();
    const clientName = metadata.clientName ?? 'Unnamed MCP client';
    const sealed = await this.registrations.seal('', JSON.stringify({ n: clientName, r: metadata.redirectUris, c: now }));
    if (sealed.length > REGISTRATION_SEAL.maxEncodedLength) throw new OAuthError('invalid_client_metadata', 'the redirect URIs and client name are too long together: register fewer or shorter redirect URIs');
    const record = this.unusedRegistration(`${CLIENT_ID_PREFIX}${sealed}`, clientName, metadata.redirectUris, now);
    await this.audited(record, address);
    return {
      client_id: record.clientId,
      client_id_issued_at: Math.floor(now / 1000),
      client_name: record.clientName,
      redirect_uris: record.redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  /**
   * A registered client someone obtained tokens through: stored (its first use) or kept
   * for `oauth.registeredClientTtlSeconds` from now. A store too full to take it leaves it
   * good until its unused day ends: the tokens were issued, and the client registers again then.
   */
  async used(client: OAuthClientRecord): Promise<void> {
    if (client.registration !== 'dcr') return;
    const expiresAt = this.deps.clock.now() + this.deps.config.registeredClientTtlSeconds * 1000;
    // Once a day at most: every token exchange need not write the client again.
    if (expiresAt - client.expiresAt <= UNUSED_REGISTRATION_MS) return;
    // The registration as stored or sealed, not `client` as today's rules show it: a redirect URI
    // they refuse now is kept, so that an operator who allows it again does not make everyone register anew.
    const registered = (await this.deps.clients.get(client.clientId)) ?? (await this.unsealed(client.clientId));
    if (!registered) return;
    await this.deps.clients.put(client.clientId, { ...registered, expiresAt }).catch((error: unknown) => {
      if (!(error instanceof StoreFullError)) throw error;
    });
  }

  /** The client a request (from `address`) names; throws invalid_client for one we do not know or cannot use. */
  async find(clientId: unknown, address: string | undefined): Promise<OAuthClientRecord> {
    if (typeof clientId !== 'string' || clientId.length === 0) throw new OAuthError('invalid_request', 'client_id is missing');
    if (REGISTERED_ID.test(clientId)) {
      const client = (await this.deps.clients.get(clientId)) ?? (await this.unsealed(clientId));
      if (client && client.expiresAt > this.deps.clock.now()) return this.underCurrentPolicy(client);
      throw new OAuthError('invalid_client', 'unknown client_id: register again', 'unknown_client');
    }
    if (/^https?:\/\//.test(clientId)) return this.fromMetadataDocument(clientId, address);
    throw new OAuthError('invalid_client', 'unknown client_id', 'unknown_client');
  }

  /**
   * A stored client as today's rules see it, whatever they were when it registered: only
   * the redirect URIs they allow (a launcher scheme, or an origin the operator has since
   * removed, must not receive another code), and its name as they would show it.
   */
  private underCurrentPolicy(client: OAuthClientRecord): OAuthClientRecord {
    const redirectUris = client.redirectUris.filter((uri) => redirectUriProblem(uri, this.deps.config) === null);
    return { ...client, clientName: printable(client.clientName) || client.clientId, redirectUris };
  }

  /** The registered redirect URI a request's redirect_uri matches (RFC 8252 §7.3 for loopback), or null. */
  static redirectUri(client: OAuthClientRecord, requested: unknown): string | null {
    // Required even with one registered URI: the token request must repeat it (RFC 6749 §4.1.3).
    if (typeof requested !== 'string') return null;
    return client.redirectUris.some((registered) => redirectUriMatches(registered, requested)) ? requested : null;
  }

  /** The registration sealed into `clientId` (register()), or null when it is none of ours. */
  private async unsealed(clientId: string): Promise<OAuthClientRecord | null> {
    const text = await this.registrations.open('', clientId.slice(CLIENT_ID_PREFIX.length));
    if (text === null) return null;
    const { n, r, c } = JSON.parse(text) as { n: string; r: string[]; c: number };
    return this.unusedRegistration(clientId, n, r, c);
  }

  private unusedRegistration(clientId: string, clientName: string, redirectUris: string[], createdAt: number): OAuthClientRecord {
    // Good for a day until a person obtains tokens through it (used()).
    const expiresAt = createdAt + Math.min(UNUSED_REGISTRATION_MS, this.deps.config.registeredClientTtlSeconds * 1000);
    return { clientId, clientName, redirectUris, registration: 'dcr', createdAt, expiresAt };
  }

  private async fromMetadataDocument(clientId: string, address: string | undefined): Promise<OAuthClientRecord> {
    const cached = await this.deps.clients.get(clientId);
    // A document fetched now is checked as it is read (checkMetadata); a cached one may predate today's rules.
    if (cached) return this.underCurrentPolicy(cached);
    const url = new URL(clientId);
    // The document's URL is the client's identity: it must name a document, not a site.
    if (url.pathname === '/' || url.hash !== '' || url.username !== '' || url.password !== '') throw new OAuthError('invalid_client', 'a URL client_id must be an https URL with a path', 'bad_client_id');
    const document = await fetchClientMetadata(clientId, this.deps.config.clientMetadataDocuments);
    const metadata = this.checkMetadata(document, 'invalid_client');
    if ((document as Record<string, unknown>).client_id !== clientId) throw new OAuthError('invalid_client', 'the client metadata document names another client_id', 'client_metadata_mismatch');
    const now = this.deps.clock.now();
    const record: OAuthClientRecord = {
      clientId,
      clientName: metadata.clientName ?? url.host,
      redirectUris: metadata.redirectUris,
      registration: 'cimd',
      createdAt: now,
      expiresAt: now + Math.max(1, this.deps.config.clientMetadataDocuments.cacheSeconds) * 1000,
    };
    await this.audited(record, address);
    // A cache, which anyone naming documents could fill: full, it is fetched again next time.
    if (this.deps.config.clientMetadataDocuments.cacheSeconds > 0) {
      await this.deps.clients.put(clientId, record).catch((error: unknown) => {
        if (!(error instanceof StoreFullError)) throw error;
      });
    }
    return record;
  }

  private audited(record: OAuthClientRecord, address: string | undefined): Promise<unknown> {
    return this.deps.audit.append({
      type: 'oauth.client.registered',
      outcome: 'SUCCESS',
      actor: null,
      data: { clientId: record.clientId, clientName: record.clientName, registration: record.registration, redirectUris: record.redirectUris, ...clientAddressData(address) },
      bounded: ['clientName', 'redirectUris'],
    });
  }

  /** Client metadata as RFC 7591 §2 and the CIMD draft define it, reduced to what we use. */
  private checkMetadata(body: unknown, error: 'invalid_client_metadata' | 'invalid_client'): { clientName?: string; redirectUris: string[] } {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new OAuthError(error, 'client metadata must be a JSON object');
    const m = body as Record<string, unknown>;
    const { redirect_uris: uris, client_name: name, grant_types: grants, response_types: responses, token_endpoint_auth_method: method } = m;
    if (!Array.isArray(uris) || uris.length === 0 || uris.length > MAX_REDIRECT_URIS || !uris.every((u) => typeof u === 'string')) {
      throw new OAuthError(error === 'invalid_client' ? error : 'invalid_redirect_uri', `redirect_uris must list 1 to ${MAX_REDIRECT_URIS} URIs`);
    }
    const allowed = (uris as string[]).filter((uri) => redirectUriProblem(uri, this.deps.config) === null);
    if (allowed.length === 0) {
      const problem = redirectUriProblem(uris[0] as string, this.deps.config);
      throw new OAuthError(error === 'invalid_client' ? error : 'invalid_redirect_uri', `no redirect URI this broker allows: ${problem}`);
    }
    const clientName = typeof name === 'string' ? printable(name) : undefined;
    if (name !== undefined && !clientName) throw new OAuthError(error, 'client_name must be a non-empty string of visible characters');
    if (grants !== undefined && (!Array.isArray(grants) || !grants.includes('authorization_code'))) throw new OAuthError(error, 'grant_types must include authorization_code');
    if (responses !== undefined && (!Array.isArray(responses) || !responses.includes('code'))) throw new OAuthError(error, 'response_types must include code');
    // A metadata document is public: a secret in it is no secret (CIMD draft §4.1).
    if (error === 'invalid_client' && (m.client_secret !== undefined || (method !== undefined && method !== 'none'))) {
      throw new OAuthError(error, 'a client metadata document client is public: token_endpoint_auth_method must be none');
    }
    return { clientName, redirectUris: allowed };
  }
}

/**
 * A name shown on the consent page and written to the audit log, as it looks: no control,
 * format (bidi overrides and isolates, zero-width), private-use, surrogate or unassigned
 * characters, nor invisible fillers or line separators: "Cursor\u202e (official)" would
 * display reordered, and zero-width characters make two different names look alike.
 */
function printable(value: string): string {
  // Cut by code point: a cut through a surrogate pair would leave half a character behind.
  return [...value.replace(/[\p{C}\p{Default_Ignorable_Code_Point}\p{Zl}\p{Zp}]/gu, '').trim()].slice(0, MAX_NAME_LENGTH).join('').trim();
}
