import { inflateRawSync } from 'node:zlib';
import { buildResponseXml, encodeForPost, signElement } from '../../server/dev-idp/saml-response.js';
import type { AssertionSpec, SigningKey } from '../../server/dev-idp/saml-response.js';
import { spUrls } from '../../server/saml/sp-urls.js';
import { selfSignedCertificate } from './certificates.js';
import { testConfig } from './test-server.js';

/** The public URL every SAML test server is configured with (Destination, Recipient, ACS). */
export const TEST_PUBLIC_URL = 'http://127.0.0.1:8080';

/**
 * A SAML IdP for tests: a real key pair and certificate made in setup, responses built
 * and signed with xml-crypto exactly as an IdP would, ready to be tampered with.
 */
export interface TestIdp {
  id: string;
  issuer: string;
  spEntityId: string;
  acsUrl: string;
  key: SigningKey;
  /** The `identityProviders[]` entry a broker needs to trust this IdP. */
  config: Record<string, unknown>;
  /** An unsigned response for `spec` overrides, addressed to this IdP's ACS. */
  responseXml(spec: Partial<AssertionSpec> & { inResponseTo?: string }): string;
  /** The same, with the assertion signed by this IdP's key. */
  signedResponse(spec: Partial<AssertionSpec> & { inResponseTo?: string }): string;
}

export async function createTestIdp(id: string, publicUrl = TEST_PUBLIC_URL): Promise<TestIdp> {
  const { cert, privateKey } = await selfSignedCertificate(`${id}-idp`);
  const key = { cert, privateKey };
  const issuer = `https://${id}.idp.example.com/metadata`;
  const spEntityId = `https://portcullis.example.com/saml/${id}`;
  const acsUrl = spUrls(publicUrl, id).acs;
  const responseXml = (spec: Partial<AssertionSpec>) =>
    buildResponseXml({
      issuer,
      destination: acsUrl,
      recipient: acsUrl,
      audience: spEntityId,
      nameId: 'alice@example.com',
      attributes: { email: 'alice@example.com', displayName: 'Alice Example', groups: ['engineering', 'sre'] },
      ...spec,
    });
  return {
    id,
    issuer,
    spEntityId,
    acsUrl,
    key,
    config: {
      id,
      displayName: `${id} SSO`,
      entryPoint: `https://${id}.idp.example.com/sso`,
      idpIssuer: issuer,
      idpCert: cert,
      spEntityId,
      attributes: { email: 'email', displayName: 'displayName', groups: 'groups' },
      clockSkewSeconds: 60,
    },
    responseXml,
    signedResponse: (spec) => signElement(responseXml(spec), 'Assertion', key),
  };
}

export interface LoginStart {
  requestId: string;
  relayState: string | null;
  location: URL;
}

/** GET /auth/saml/:idp/login as a browser would, decoding the AuthnRequest it redirects with. */
export async function startLogin(serverUrl: string, idpId: string, returnTo = '/'): Promise<LoginStart> {
  const res = await fetch(`${serverUrl}/auth/saml/${idpId}/login?returnTo=${encodeURIComponent(returnTo)}`, { redirect: 'manual' });
  if (res.status !== 302) throw new Error(`login answered ${res.status}`);
  const location = new URL(res.headers.get('location') ?? '');
  const { id: requestId } = decodeAuthnRequest(location.searchParams.get('SAMLRequest') ?? '');
  return { requestId, relayState: location.searchParams.get('RelayState'), location };
}

export interface AuthnRequest {
  id: string;
  /** Where the SP asks the response to be posted (AssertionConsumerServiceURL). */
  acsUrl: string | null;
}

/** Reads an AuthnRequest as the HTTP-Redirect binding carries it (deflated, base64), as an IdP would. */
export function decodeAuthnRequest(samlRequest: string): AuthnRequest {
  const xml = inflateRawSync(Buffer.from(samlRequest, 'base64')).toString('utf8');
  const id = /\sID="([^"]+)"/.exec(xml)?.[1];
  if (!id) throw new Error(`no ID in AuthnRequest: ${xml}`);
  return { id, acsUrl: /\sAssertionConsumerServiceURL="([^"]+)"/.exec(xml)?.[1] ?? null };
}

export interface AcsResult {
  status: number;
  location: string | null;
  /** The session cookie's `name=value`, if one was set. */
  cookie: string | null;
  setCookie: string | null;
  contentType: string | null;
  body: string;
}

/** POST a response to an ACS the way the HTTP-POST binding does (an auto-submitted form). */
export async function postToAcs(serverUrl: string, idpId: string, xml: string, relayState?: string): Promise<AcsResult> {
  const form = new URLSearchParams({ SAMLResponse: encodeForPost(xml) });
  if (relayState !== undefined) form.set('RelayState', relayState);
  const res = await fetch(`${serverUrl}/auth/saml/${idpId}/acs`, { method: 'POST', body: form, redirect: 'manual' });
  const setCookie = res.headers.get('set-cookie');
  return { status: res.status, location: res.headers.get('location'), cookie: setCookie?.split(';')[0] ?? null, setCookie, contentType: res.headers.get('content-type'), body: await res.text() };
}

/** Runs a whole sign-in for `nameId` at `idp` and returns the session cookie. */
export async function signIn(serverUrl: string, idp: TestIdp, spec: Partial<AssertionSpec> = {}): Promise<string> {
  const { requestId } = await startLogin(serverUrl, idp.id);
  const result = await postToAcs(serverUrl, idp.id, idp.signedResponse({ inResponseTo: requestId, ...spec }));
  if (result.status !== 303 || !result.cookie) throw new Error(`sign-in failed with ${result.status}`);
  return result.cookie;
}

/** A test config trusting these IdPs, at the public URL their responses are addressed to. */
export function configTrusting(idps: readonly TestIdp[], overrides: Record<string, unknown> = {}) {
  return testConfig({ server: { host: '127.0.0.1', port: 0, publicUrl: TEST_PUBLIC_URL }, identityProviders: idps.map((idp) => idp.config), ...overrides });
}
