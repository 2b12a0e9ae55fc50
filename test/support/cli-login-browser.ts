import type { AssertionSpec } from '../../server/dev-idp/saml-response.js';
import { postToAcs, startLogin, TEST_PUBLIC_URL } from './test-idp.js';
import type { TestIdp } from './test-idp.js';

export interface ConsentPage {
  serverUrl: string;
  cookie: string;
  /** The hidden fields of the consent form. */
  fields: Record<string, string>;
  text: string;
}

/**
 * Plays the browser's part of `portcullis login` up to the consent page: opens the URL
 * the CLI printed, follows the broker to the IdP, signs in there (a response signed by
 * the test IdP), and follows the broker back to the page asking to confirm.
 */
export async function browserSignInForCli(serverUrl: string, loginUrl: string, idp: TestIdp, spec: Partial<AssertionSpec> = {}): Promise<ConsentPage> {
  const start = await fetch(loginUrl, { redirect: 'manual' });
  if (start.status !== 302) throw new Error(`CLI login URL answered ${start.status}: ${await start.text()}`);
  const toSaml = new URL(start.headers.get('location') ?? '', serverUrl);
  const returnTo = toSaml.searchParams.get('returnTo') ?? '';
  const { requestId, relayState } = await startLogin(serverUrl, idp.id, returnTo);
  const acs = await postToAcs(serverUrl, idp.id, idp.signedResponse({ inResponseTo: requestId, ...spec }), relayState ?? undefined);
  if (acs.status !== 303 || !acs.cookie || !acs.location) throw new Error(`ACS answered ${acs.status}`);
  return consentPage(serverUrl, acs.location, acs.cookie);
}

/** GET the consent page with a session cookie. */
export async function consentPage(serverUrl: string, location: string, cookie: string): Promise<ConsentPage> {
  const page = await fetch(new URL(location, serverUrl), { headers: { cookie }, redirect: 'manual' });
  const text = await page.text();
  if (page.status !== 200) throw new Error(`CLI finish answered ${page.status}: ${text}`);
  const fields = Object.fromEntries([...text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((m) => [m[1]!, m[2]!.replaceAll('&amp;', '&')]));
  return { serverUrl, cookie, fields, text };
}

/**
 * Clicks Allow (or Cancel) on the consent page, from the page's origin (the broker's
 * public URL, which test servers all share); returns where the broker sends the browser.
 */
export async function confirm(consent: ConsentPage, decision: 'allow' | 'deny' = 'allow', origin = new URL(TEST_PUBLIC_URL).origin): Promise<URL> {
  const res = await fetch(`${consent.serverUrl}/auth/cli/finish`, {
    method: 'POST',
    headers: { cookie: consent.cookie, origin, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...consent.fields, decision }),
    redirect: 'manual',
  });
  if (res.status !== 303) throw new Error(`consent answered ${res.status}: ${await res.text()}`);
  return new URL(res.headers.get('location') ?? '');
}

/** The browser lands on the CLI's listener; returns its page. */
export async function visit(url: URL): Promise<{ status: number; text: string }> {
  const res = await fetch(url);
  return { status: res.status, text: await res.text() };
}
