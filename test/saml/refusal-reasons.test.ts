import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFUSAL_CODES } from '../../server/saml/refusal.js';
import type { RefusalCode } from '../../server/saml/refusal.js';
import { createTestIdp, postToAcs, startLogin, configTrusting } from '../support/test-idp.js';
import type { TestIdp } from '../support/test-idp.js';
import { startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';

/** Text an unauthenticated sender puts in a response, hoping to see it in a trusted record. */
const MARKER = 'ATTACKER-TEXT-7f3a9c';

let server: TestServer;
let corp: TestIdp;

beforeAll(async () => {
  corp = await createTestIdp('corp');
  // At info, as in production: the libraries' own messages go to the debug level only.
  server = await startTestServer({
    config: configTrusting([corp], { logging: { level: 'info' } }),
  });
});
afterAll(() => server.close());

const fresh = async () => (await startLogin(server.url, 'corp')).requestId;

/** Each response carries MARKER where the refusing check (ours or the library's) would quote it. */
const cases: [string, RefusalCode, () => Promise<string>][] = [
  ['in the Issuer', 'issuer_mismatch', async () => corp.signedResponse({ inResponseTo: await fresh(), issuer: `https://evil.example/${MARKER}` })],
  ['in the Audience', 'audience_mismatch', async () => corp.signedResponse({ inResponseTo: await fresh(), audience: MARKER })],
  ['in the Destination', 'destination_mismatch', async () => corp.signedResponse({ inResponseTo: await fresh(), destination: MARKER })],
  ['in InResponseTo', 'in_response_to_unknown', async () => corp.signedResponse({ inResponseTo: `_${MARKER}` })],
  [
    "in the IdP's StatusMessage",
    'idp_error_status',
    async () =>
      `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${corp.acsUrl}" InResponseTo="${await fresh()}">` +
      `<saml:Issuer>${corp.issuer}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"/><samlp:StatusMessage>${MARKER}</samlp:StatusMessage></samlp:Status></samlp:Response>`,
  ],
  ['in a signature Reference URI', 'signature_invalid', async () => corp.signedResponse({ inResponseTo: await fresh() }).replace(/<Reference URI="#[^"]+"/, `<Reference URI="#${MARKER}"`)],
  [
    'in a DigestMethod algorithm',
    'signature_invalid',
    async () => corp.signedResponse({ inResponseTo: await fresh() }).replace(/<DigestMethod Algorithm="[^"]+"/, `<DigestMethod Algorithm="urn:${MARKER}"`),
  ],
];

describe('refusal reasons are fixed codes, never text the sender wrote', () => {
  for (const [where, code, build] of cases) {
    it(`records ${code} for a response with attacker text ${where}, and neither the audit log nor the log carries that text`, async () => {
      const xml = await build();
      expect(xml).toContain(MARKER);
      const before = (await server.stores.audit.read({ limit: 10_000 })).length;
      const logged = server.logs.length;
      const result = await postToAcs(server.url, 'corp', xml);
      expect(result.status).toBe(401);
      const events = (await server.stores.audit.read({ limit: 10_000 })).slice(before);
      expect(events.map((e) => [e.type, e.outcome, e.actor, e.data])).toEqual([['auth.login', 'DENIED', null, { idp: 'corp', reason: code, clientAddress: '127.0.0.1' }]]);
      expect(JSON.stringify(events)).not.toContain(MARKER);
      expect(server.logs.slice(logged).join('')).not.toContain(MARKER);
    });
  }
});

describe('the refusal page names the reason and echoes nothing the sender wrote', () => {
  const SCRIPT = `<script>alert("${MARKER}")</script>`;
  const pageCases: [string, RefusalCode, () => Promise<string>][] = [
    ['a script in the Issuer', 'issuer_mismatch', async () => corp.signedResponse({ inResponseTo: await fresh(), issuer: SCRIPT })],
    ['a script in the Destination', 'destination_mismatch', async () => corp.signedResponse({ inResponseTo: await fresh(), destination: SCRIPT })],
    ['a script in the NameID', 'signature_invalid', async () => corp.signedResponse({ inResponseTo: await fresh() }).replace('alice@example.com</saml:NameID>', `${SCRIPT.replace(/</g, '&lt;')}</saml:NameID>`)],
  ];
  for (const [what, code, build] of pageCases) {
    it(`answers ${code} for ${what} with a 401 HTML page naming the code, the fix and a way back, without the script`, async () => {
      const result = await postToAcs(server.url, 'corp', await build());
      expect(result.status).toBe(401);
      expect(result.contentType).toMatch(/^text\/html/);
      expect(result.body).toContain(`<code>${code}</code>`);
      expect(result.body).toContain('href="/signin"');
      expect(result.body).not.toContain(MARKER);
      expect(result.body).not.toContain('<script');
    });
  }

  it('tells the administrator which ACS URL to configure when the Destination is another address', async () => {
    const result = await postToAcs(server.url, 'corp', corp.signedResponse({ inResponseTo: await fresh(), destination: 'https://elsewhere.example/acs' }));
    expect(result.body).toContain(`set its ACS URL to ${corp.acsUrl}`);
    expect(result.body).not.toContain('elsewhere.example');
  });
});

describe('the refusal codes are documented', () => {
  it('lists every code in the Sign-in refusals table of docs/identity.md (the IdP setup guides point there)', () => {
    const doc = readFileSync(new URL('../../docs/identity.md', import.meta.url), 'utf8');
    const start = doc.indexOf('## Sign-in refusals');
    const end = doc.indexOf('\n## ', start + 1);
    const table = doc.slice(start, end === -1 ? undefined : end);
    const documented = new Set([...table.matchAll(/^\| ([^|]+) \|/gm)].flatMap((row) => [...row[1]!.matchAll(/`([a-z_]+)`/g)].map((m) => m[1])));
    expect(REFUSAL_CODES.filter((code) => !documented.has(code))).toEqual([]);
  });
});
