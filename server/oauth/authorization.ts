import { createHash } from 'node:crypto';
import { byCaller } from '../audit/client-address.js';
import type { AuditLog } from '../audit/types.js';
import type { Clock } from '../clock.js';
import type { PortcullisConfig } from '../config/schema.js';
import { UnauthenticatedError } from '../errors.js';
import type { Principal } from '../identity/principal.js';
import type { ExpiringRecords } from '../stores/types.js';
import { OAuthClients } from './clients.js';
import { OAuthError } from './oauth-error.js';
import { MCP_SCOPE } from './resources.js';
import type { McpResources } from './resources.js';
import type { OAuthTokens } from './tokens.js';
import type { ConsentRecord, OAuthClientRecord } from './types.js';

/** RFC 7636 §4.2: an S256 challenge is a base64url SHA-256 digest. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;
const MAX_STATE_LENGTH = 1024;

/** A checked authorization request (RFC 6749 §4.1.1 with RFC 7636 and RFC 8707). */
export interface AuthorizationRequest {
  client: OAuthClientRecord;
  redirectUri: string;
  state: string | undefined;
  challenge: string;
  resource: string;
  scope: string;
}

/**
 * A request we cannot answer at its redirect URI (unknown client, unregistered redirect):
 * RFC 6749 §4.1.2.1 forbids redirecting then, or the endpoint becomes an open redirector.
 */
export type ParsedAuthorization = { request: AuthorizationRequest } | { fatal: OAuthError } | { redirect: URL };

/**
 * The authorization endpoint's decisions: what a request asks for, whether the person
 * already approved it, and the redirect that carries the code or the refusal (with `iss`,
 * RFC 9207, so a client talking to several servers cannot be mixed up).
 */
export class OAuthAuthorization {
  constructor(
    private readonly deps: {
      clients: OAuthClients;
      tokens: OAuthTokens;
      consents: ExpiringRecords<ConsentRecord>;
      resources: McpResources;
      audit: AuditLog;
      clock: Clock;
      issuer: string;
      config: PortcullisConfig['oauth'];
    },
  ) {}

  async parse(params: Record<string, unknown>, address: string | undefined): Promise<ParsedAuthorization> {
    let client: OAuthClientRecord;
    try {
      client = await this.deps.clients.find(params.client_id, address);
    } catch (error) {
      if (error instanceof OAuthError) return { fatal: error };
      throw error;
    }
    const redirectUri = OAuthClients.redirectUri(client, params.redirect_uri);
    if (redirectUri === null) return { fatal: new OAuthError('invalid_request', 'redirect_uri is missing or not registered for this client') };
    const state = typeof params.state === 'string' && params.state.length <= MAX_STATE_LENGTH ? params.state : undefined;
    const refuse = (error: OAuthError) => ({ redirect: this.redirect(redirectUri, state, { error: error.error, error_description: error.description }) });
    if (params.response_type !== 'code') return refuse(new OAuthError('unsupported_response_type', 'response_type must be code'));
    if (params.code_challenge === undefined) return refuse(new OAuthError('invalid_request', 'code_challenge is required (PKCE, S256)'));
    if (params.code_challenge_method !== 'S256') return refuse(new OAuthError('invalid_request', 'code_challenge_method must be S256'));
    if (typeof params.code_challenge !== 'string' || !S256_CHALLENGE.test(params.code_challenge)) return refuse(new OAuthError('invalid_request', 'code_challenge is not an S256 challenge'));
    const scope = params.scope === undefined || params.scope === '' ? MCP_SCOPE : params.scope;
    if (scope !== MCP_SCOPE) return refuse(new OAuthError('invalid_scope', `the only scope is "${MCP_SCOPE}"`));
    // A client that omits resource (RFC 8707 is optional to clients) gets the federated MCP endpoint.
    const resource = params.resource === undefined ? this.deps.resources.federated : typeof params.resource === 'string' ? this.deps.resources.canonical(params.resource) : null;
    if (resource === null) return refuse(new OAuthError('invalid_target', 'resource is not an MCP endpoint of this broker'));
    return { request: { client, redirectUri, state, challenge: params.code_challenge, resource, scope } };
  }

  /** Has this person approved this client for this resource and scope before (and not long ago)? */
  async remembered(principal: Principal, request: AuthorizationRequest): Promise<boolean> {
    return (await this.deps.consents.get(consentKey(principal, request))) !== null;
  }

  /** The person's answer on the consent page: audited, remembered when it is yes, and sent to the client. */
  async decide(principal: Principal, request: AuthorizationRequest, allow: boolean): Promise<URL> {
    await this.deps.audit.append(
      byCaller(principal, {
        type: allow ? 'oauth.consent.granted' : 'oauth.consent.denied',
        outcome: allow ? 'SUCCESS' : 'DENIED',
        data: { clientId: request.client.clientId, clientName: request.client.clientName, redirectUri: request.redirectUri, resource: request.resource, scope: request.scope },
        bounded: ['clientName', 'redirectUri'],
      }),
    );
    if (!allow) return this.redirect(request.redirectUri, request.state, { error: 'access_denied', error_description: 'the user did not approve the request' });
    const now = this.deps.clock.now();
    await this.deps.consents.put(consentKey(principal, request), { grantedAt: now, expiresAt: now + this.deps.config.consentTtlSeconds * 1000 });
    return this.approved(principal, request);
  }

  /** The redirect with a new code, for a person who approved (now or before). */
  async approved(principal: Principal, request: AuthorizationRequest): Promise<URL> {
    if (principal.credential.kind !== 'session') throw new UnauthenticatedError('an authorization is approved by a browser sign-in');
    const code = await this.deps.tokens.issueCode({
      clientId: request.client.clientId,
      redirectUri: request.redirectUri,
      challenge: request.challenge,
      resource: request.resource,
      scope: request.scope,
      user: principal.user,
      loginSessionId: principal.credential.id,
      sessionExpiresAt: principal.credential.expiresAt,
    });
    return this.redirect(request.redirectUri, request.state, { code });
  }

  private redirect(redirectUri: string, state: string | undefined, params: Record<string, string>): URL {
    const url = new URL(redirectUri);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    if (state !== undefined) url.searchParams.set('state', state);
    url.searchParams.set('iss', this.deps.issuer);
    return url;
  }
}

function consentKey(principal: Principal, request: AuthorizationRequest): string {
  return createHash('sha256').update(JSON.stringify([principal.user.id, request.client.clientId, request.resource, request.scope])).digest('hex');
}
