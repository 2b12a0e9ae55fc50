import { rootCertificates } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { trustedCertificates } from '../../server/http/guarded-fetch.js';
import { testTls } from '../support/certificates.js';

// No test here can reach a server whose certificate a public root issued (no network, no
// public root's key): what is checked is the trust list a fetch hands to TLS. That the
// private CA is trusted, and another is not, is proven over real https in
// test/saml/idp-metadata-url.test.ts.
describe('the CAs a guarded fetch trusts', () => {
  it("keeps Node's public roots beside a configured private CA (a ca option alone would replace them)", async () => {
    const { ca } = await testTls();
    const trusted = trustedCertificates(ca);
    expect(rootCertificates.length).toBeGreaterThan(0);
    expect(trusted).toEqual([...rootCertificates, ca]);
  });

  it("leaves Node's default store alone when no private CA is configured", () => {
    expect(trustedCertificates(undefined)).toBeUndefined();
  });
});
