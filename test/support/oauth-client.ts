import { createHash, randomBytes } from 'node:crypto';
import { auth } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { AssertionSpec } from '../../server/dev-idp/saml-response.js';
import type { AuditEvent } from '../../server/audit/types.js';
import { pagesOf, verifyChain } from '../../server/audit/verify.js';
import { systemClock } from '../../server/clock.js';
import type { Clock } from '../../server/clock.js';
import type { PortcullisConfig } from '../../server/config/schema.js';
import { createIdentity } from '../../server/identity/index.js';
import { trustedIdps } from '../../server/identity/trusted-idps.js';
import type { Stores } from '../../server/stores/types.js';
import { afterAll, beforeAll } from 'vitest';
import { McpAuthError } from '../../server/oauth/mcp-authenticate.js';
import { configTrusting, createTestIdp, postToAcs, startLogin, TEST_PUBLIC_URL } from './test-idp.js';
import type { TestServer } from './test-server.js';
import type { TestIdp } from './test-idp.js';

export const ALICE: Partial<AssertionSpec> = { nameId: 'alice@example.com', attributes: { email: 'alice@example.com', groups: ['engineering'] } };

/**
 * fetch as seen from the broker's public URL: test brokers listen on a free port while
 * their config (and so their metadata, issuer and redirects) says TEST_PUBLIC_URL.
 */
export function publicUrlFetch(serverUrl: string): typeof fetch {
  return (input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    const rewritten = url.startsWith(TEST_PUBLIC_URL) ? `${serverUrl}${url.slice(TEST_PUBLIC_URL.length)}` : url;
    return input instanceof Request ? fetch(new Request(rewritten, input), init) : fetch(rewritten, init);
  };
}

/** An MCP client's OAuth state, kept in memory as a real client keeps it on disk. */
export class MemoryOAuthProvider implements OAuthClientProvider {
  info: OAuthClientInformationMixed | undefined;
  saved: OAuthTokens | undefined;
  verifier = '';
  authorizationUrl: URL | undefined;

  constructor(
    readonly redirectUrl: string,
    readonly clientMetadata: OAuthClientMetadata,
    info?: OAuthClientInformationMixed,
  ) {
    this.info = info;
  }

  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** A browser: one cookie, requests from the broker's public origin, redirects followed by hand. */
export class TestBrowser {
  cookie: string | null = null;

  constructor(
    readonly serverUrl: string,
    readonly idp: TestIdp,
  ) {}

  get(url: string | URL): Promise<Response> {
    return publicUrlFetch(this.serverUrl)(new URL(url, TEST_PUBLIC_URL).href, { redirect: 'manual', headers: this.cookie ? { cookie: this.cookie } : {} });
  }

  /**
   * Opens an authorization URL and follows the broker through the SAML sign-in (a response
   * signed by the test IdP) until it shows the consent page or redirects to the client.
   */
  async open(authorizationUrl: URL | string, spec: Partial<AssertionSpec> = ALICE): Promise<{ consent: ConsentForm } | { redirect: URL } | { status: number; text: string }> {
    let res = await this.get(authorizationUrl);
    if (res.status === 302 && (res.headers.get('location') ?? '').startsWith('/auth/saml/')) {
      const returnTo = new URL(res.headers.get('location')!, TEST_PUBLIC_URL).searchParams.get('returnTo') ?? '';
      const { requestId, relayState } = await startLogin(this.serverUrl, this.idp.id, returnTo);
      const acs = await postToAcs(this.serverUrl, this.idp.id, this.idp.signedResponse({ inResponseTo: requestId, ...spec }), relayState ?? undefined);
      if (acs.status !== 303 || !acs.cookie) throw new Error(`ACS answered ${acs.status}`);
      this.cookie = acs.cookie;
      res = await this.get(acs.location!);
    }
    if (res.status === 302 || res.status === 303) return { redirect: new URL(res.headers.get('location')!) };
    const text = await res.text();
    if (res.status !== 200) return { status: res.status, text };
    const fields = Object.fromEntries([...text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, unescape(m[2]!)]));
    return { consent: { fields, text, csp: res.headers.get('content-security-policy') ?? '' } };
  }

  /** Clicks Allow or Deny on the consent page; returns where the broker sends the browser. */
  async decide(consent: ConsentForm, decision: 'allow' | 'deny', origin = new URL(TEST_PUBLIC_URL).origin): Promise<Response> {
    return fetch(`${this.serverUrl}/oauth/authorize`, {
      method: 'POST',
      headers: { cookie: this.cookie ?? '', origin, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...consent.fields, decision }),
      redirect: 'manual',
    });
  }

  /** The whole browser leg for a first-time approval: sign in, consent, and the code at the redirect. */
  async approve(authorizationUrl: URL | string): Promise<URL> {
    const opened = await this.open(authorizationUrl);
    if ('redirect' in opened) return opened.redirect;
    if (!('consent' in opened)) throw new Error(`authorization answered ${opened.status}: ${opened.text}`);
    const res = await this.decide(opened.consent, 'allow');
    if (res.status !== 303) throw new Error(`consent answered ${res.status}: ${await res.text()}`);
    return new URL(res.headers.get('location')!);
  }
}

export interface ConsentForm {
  fields: Record<string, string>;
  text: string;
  csp: string;
}

function unescape(value: string): string {
  return value.replaceAll('&quot;', '"').replaceAll('&#39;', "'").replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&amp;', '&');
}

/** The MCP SDK's whole flow for `resource`: discovery, registration, browser leg, code exchange. */
export async function connectWithSdk(serverUrl: string, browser: TestBrowser, provider: MemoryOAuthProvider, resource: string): Promise<OAuthTokens> {
  const fetchFn = publicUrlFetch(serverUrl);
  if ((await auth(provider, { serverUrl: resource, fetchFn })) !== 'REDIRECT') throw new Error('expected a redirect to the authorization endpoint');
  const callback = await browser.approve(provider.authorizationUrl!);
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code at the redirect: ${callback.href}`);
  if ((await auth(provider, { serverUrl: resource, authorizationCode: code, fetchFn })) !== 'AUTHORIZED') throw new Error('code exchange failed');
  return provider.saved!;
}

/** A PKCE pair (RFC 7636), for requests made by hand. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** POSTs a form to a broker endpoint and returns status and JSON. */
export async function postForm(serverUrl: string, path: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${serverUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export const DCR_METADATA: OAuthClientMetadata = {
  client_name: 'Test MCP client',
  redirect_uris: ['http://127.0.0.1:47001/callback'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
};

/** A test broker's config with MCP servers `a` and `b` (never connected here) and OAuth in development mode. */
export function oauthConfig(idp: TestIdp, oauth: Record<string, unknown> = {}, overrides: Record<string, unknown> = {}) {
  return configTrusting([idp], {
    servers: ['a', 'b'].map((name) => ({ name, transport: 'streamable-http', url: `http://127.0.0.1:9/${name}` })),
    oauth: { clientMetadataDocuments: { allowLoopback: true }, ...oauth },
    ...overrides,
  });
}

/** The MCP HTTP endpoint's authenticator over a broker's stores, as the endpoint itself gets it (identity.mcpAuthenticator). */
export function mcpIdentity(config: PortcullisConfig, stores: Stores, clock: Clock = systemClock) {
  return createIdentity(config, stores, clock, trustedIdps(config));
}

export const resourceUrl = (server?: string) => `${TEST_PUBLIC_URL}/mcp${server ? `/${server}` : ''}`;

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** Every audit event of a broker's store, oldest first, after checking the hash chain holds. */
export async function auditChain(stores: Stores): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  const report = await verifyChain(pagesOf(async (after) => {
    const page = await stores.audit.read({ after, limit: 500 });
    events.push(...page);
    return page;
  }));
  if (report.broken) throw new Error(`audit chain broken: ${report.broken.reason}`);
  return events;
}

/** Registers a client by RFC 7591 (as a client would, JSON), returning the answer. */
export async function registerClient(serverUrl: string, metadata: Record<string, unknown>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${serverUrl}/oauth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(metadata) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** An authorization URL built by hand, for requests a well-behaved SDK never makes. */
export function authorizeUrl(params: Record<string, string | undefined>): string {
  const defined = Object.entries(params).filter((entry): entry is [string, string] => entry[1] !== undefined);
  return `${TEST_PUBLIC_URL}/oauth/authorize?${new URLSearchParams(defined)}`;
}

export interface OAuthBroker {
  idp: TestIdp;
  config: PortcullisConfig;
  server: TestServer;
}

/** A broker for the suite, made in beforeAll with `oauthConfig(idp, oauth)` and closed after it. */
export function oauthBrokerForSuite(start: (config: PortcullisConfig) => Promise<TestServer>, oauth: Record<string, unknown> = {}): OAuthBroker {
  const broker = {} as OAuthBroker;
  beforeAll(async () => {
    broker.idp = await createTestIdp('corp');
    broker.config = oauthConfig(broker.idp, oauth);
    broker.server = await start(broker.config);
  });
  afterAll(() => broker.server.close());
  return broker;
}

/** What an MCP request's refusal looks like on the wire: status, RFC 6750 error, challenge (null when it was accepted). */
export function mcpRefusal(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => null,
    (error: unknown) => (error instanceof McpAuthError ? { status: error.status, error: error.error, challenge: error.challenge } : error),
  );
}
