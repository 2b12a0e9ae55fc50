import { describe, expect, it } from 'vitest';
import { literalCredentials, redactConfig } from '../../server/config/redact.js';
import { auditKeyPair } from '../support/audit-keys.js';
import { configSchema } from '../../server/config/schema.js';
import { SecretScrubber } from '../../server/text/secret-scrubber.js';
import { selfSignedCertificate } from '../support/certificates.js';
import { captureLogs } from '../support/log-capture.js';

const capture = (secrets: string[]) => captureLogs({ secrets });

describe('log redaction', () => {
  it('scrubs configured secret values wherever they appear, raw or JSON-escaped', () => {
    const quoted = 'pa"ss\\word-42';
    const { logger, lines } = capture(['sk-live-abcdef123456', quoted]);
    logger.info({ upstream: { note: 'uses sk-live-abcdef123456' } }, 'starting with sk-live-abcdef123456');
    logger.error({ err: new Error(`connect failed with ${quoted}`) }, 'failure');
    const out = lines.join('');
    expect(out).not.toContain('sk-live-abcdef123456');
    expect(out).not.toContain(JSON.stringify(quoted).slice(1, -1));
    expect(out.match(/\[REDACTED\]/g)?.length).toBeGreaterThanOrEqual(3);
  });

  it('redacts credentials by key even when they are not configured secrets', () => {
    const { logger, lines } = capture([]);
    logger.info({ req: { headers: { authorization: 'Bearer abc', cookie: 'portcullis_session=xyz' } }, user: { token: 't0k3n', password: 'hunter2' } });
    const out = lines.join('');
    for (const value of ['Bearer abc', 'portcullis_session=xyz', 't0k3n', 'hunter2']) expect(out).not.toContain(value);
  });

  it('redacts them at the top level and on errors too (an HTTP client error carrying the request headers)', () => {
    const { logger, lines } = capture([]);
    const err = Object.assign(new Error('request failed'), { headers: { 'x-api-key': 'k-on-error' }, response: { headers: { 'set-cookie': 'sid=k-in-response' } } });
    logger.warn({ token: 'k-top-token', authorization: 'Bearer k-top-auth', headers: { 'x-api-key': 'k-top-header' }, err }, 'upstream call failed');
    const out = lines.join('');
    expect(out).toContain('request failed');
    for (const value of ['k-on-error', 'k-in-response', 'k-top-token', 'k-top-auth', 'k-top-header']) expect(out).not.toContain(value);
  });
});

describe('config redaction for logs', () => {
  it('hides upstream env and header values, the Redis password, the audit signing key, the SAML SP keys and OIDC client secrets, even when written literally', async () => {
    const { privateKey } = auditKeyPair();
    const sp = await selfSignedCertificate('sp');
    const config = configSchema.parse({
      server: { publicUrl: 'http://127.0.0.1:8080' },
      store: { redis: { url: 'redis://user:literal-redis-pw@redis.internal:6379' } },
      audit: { checkpoints: { privateKey } },
      saml: { serviceProvider: { keys: [{ privateKey: sp.privateKey, certificate: sp.cert }] } },
      servers: [
        { name: 'a', transport: 'stdio', command: 'x', env: { API_KEY: 'literal-api-key' } },
        { name: 'b', transport: 'streamable-http', url: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer literal-token' } },
      ],
      identityProviders: [{ id: 'partner', type: 'oidc', issuer: 'https://login.partner.example', clientId: 'portcullis', clientSecret: 'literal-client-secret' }],
    });
    const text = JSON.stringify(redactConfig(config));
    for (const secret of ['literal-redis-pw', 'literal-api-key', 'literal-token', 'literal-client-secret', privateKey.split('\n')[1]!, sp.privateKey.split(/\r?\n/)[1]!]) expect(text).not.toContain(secret);
    expect(text).toContain('"keys":[{"privateKey":"[REDACTED]","certificate":');
    expect(text).toContain('"clientSecret":"[REDACTED]"');
    expect(text).toContain('"checkpoints":{"privateKey":"[REDACTED]","intervalSeconds":300}');
    expect(text).toContain('"API_KEY":"[REDACTED]"');
    expect(text).toContain('redis.internal:6379');
  });

  it('hands the logger the credentials written literally, by the key naming them, to scrub by value (the SAML SP keys too)', async () => {
    const { privateKey } = auditKeyPair();
    const sp = await selfSignedCertificate('sp');
    const config = configSchema.parse({
      server: { publicUrl: 'http://127.0.0.1:8080' },
      store: { redis: { url: 'redis://user:p%40ss-word@redis.internal:6379' } },
      audit: { redactKeys: ['X-Tenant'], checkpoints: { privateKey } },
      saml: { serviceProvider: { keys: [{ privateKey: sp.privateKey, certificate: sp.cert }] } },
      servers: [
        // Switches and paths under keys the rule matches are no secrets: scrubbed, they would blank every `true` and `/app` in the logs.
        { name: 'a', transport: 'stdio', command: 'x', env: { API_KEY: 'literal-api-key', NODE_ENV: 'production', USE_AUTH: 'true', PWD: '/app' } },
        { name: 'b', transport: 'streamable-http', url: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer literal-token', Accept: 'application/json', 'X-Tenant': 'tenant-7' } },
      ],
      identityProviders: [{ id: 'partner', type: 'oidc', issuer: 'https://login.partner.example', clientId: 'portcullis', clientSecret: 'literal-client-secret' }],
    });
    expect(literalCredentials(config)).toEqual(['literal-api-key', 'Bearer literal-token', 'literal-token', 'tenant-7', 'p%40ss-word', 'p@ss-word', privateKey.trimEnd(), sp.privateKey.trimEnd(), 'literal-client-secret']);
  });
});

describe('the secret scrubber', () => {
  const scrubber = (secrets: string[]) => new SecretScrubber(secrets, { minLength: 4 });

  it('replaces overlapping secrets as one span, leaving no piece of either', () => {
    expect(scrubber(['abcd1234', '1234wxyz']).scrub('x abcd1234wxyz y')).toBe('x [REDACTED] y');
  });

  it('finds a multi-line secret line by line, as a child printing it one line at a time shows it', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n';
    expect(scrubber([pem]).scrub('key line: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC')).toBe('key line: [REDACTED]');
  });

  it('cuts after scrubbing and never keeps the start of a secret, even once replacements shortened the text', () => {
    const a = 'A'.repeat(30);
    const b = 'secret-b-0123456789-0123456789';
    const s = scrubber([a, b]);
    // Cut at 20 of the original: b starts at 32, after the cut, but `a` shrinks to 10 characters.
    expect(s.scrub(`${a}--${b}`, 20)).toBe('[REDACTED]');
    expect(s.scrub(`xy${b}`, 5)).toBe('xy[REDACTED]');
    expect(s.scrub('no secret here', 5)).toBe('no se');
    expect(s.scrub('ab😀cd', 3)).toBe('ab');
  });
});
