import type { AssertionSpec } from '../../server/dev-idp/saml-response.js';
import { postToAcs, startLogin } from './test-idp.js';
import type { TestIdp } from './test-idp.js';

/**
 * Plays the browser's part of `portcullis login`: opens the URL the CLI printed, follows
 * the broker to the IdP, signs in there (a response signed by the test IdP), follows the
 * broker back, and stops at the redirect to the CLI's loopback listener.
 */
export async function browserSignInForCli(serverUrl: string, loginUrl: string, idp: TestIdp, spec: Partial<AssertionSpec> = {}): Promise<URL> {
  const start = await fetch(loginUrl, { redirect: 'manual' });
  if (start.status !== 302) throw new Error(`CLI login URL answered ${start.status}: ${await start.text()}`);
  const toSaml = new URL(start.headers.get('location') ?? '', serverUrl);
  const returnTo = toSaml.searchParams.get('returnTo') ?? '';
  const { requestId, relayState } = await startLogin(serverUrl, idp.id, returnTo);
  const acs = await postToAcs(serverUrl, idp.id, idp.signedResponse({ inResponseTo: requestId, ...spec }), relayState ?? undefined);
  if (acs.status !== 303 || !acs.cookie || !acs.location) throw new Error(`ACS answered ${acs.status}`);
  const finish = await fetch(new URL(acs.location, serverUrl), { headers: { cookie: acs.cookie }, redirect: 'manual' });
  if (finish.status !== 302) throw new Error(`CLI finish answered ${finish.status}: ${await finish.text()}`);
  return new URL(finish.headers.get('location') ?? '');
}

/** The browser lands on the CLI's listener; returns its page. */
export async function visit(url: URL): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}
