import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRedactor, credentialKeyRule } from '../../server/audit/redact.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import { AUDIT_FILE_NAME } from '../../server/stores/embedded/file-audit-log.js';
import { ManualClock } from '../support/manual-clock.js';

describe('the audit redaction policy', () => {
  it('redacts credential-looking keys at any depth, keeps ids, and honours configured extra keys', () => {
    const redact = createRedactor(['tenantKey']);
    expect(
      redact({
        password: 'hunter2',
        nested: { access_token: 't', 'x-api-key': 'k', upstreamToken: 'u', headers: { Authorization: 'Bearer b', Cookie: 'c' } },
        list: [{ client_secret: 's' }],
        tokenId: 'keep-me',
        sessionId: 'keep-me-too',
        tenant_key: 'extra',
      }),
    ).toEqual({
      password: '[REDACTED]',
      nested: { access_token: '[REDACTED]', 'x-api-key': '[REDACTED]', upstreamToken: '[REDACTED]', headers: { Authorization: '[REDACTED]', Cookie: '[REDACTED]' } },
      list: [{ client_secret: '[REDACTED]' }],
      tokenId: 'keep-me',
      sessionId: 'keep-me-too',
      tenant_key: '[REDACTED]',
    });
  });

  it('redacts under a member named __proto__ without touching any prototype, and cuts what lies deeper than 8 levels', () => {
    const redact = createRedactor();
    const data = JSON.parse('{"__proto__":{"password":"hunter2","keep":1},"a":[[[[[[[[{"token":"deep"}]]]]]]]]}') as Record<string, unknown>;
    const redacted = redact(data) as Record<string, unknown>;
    expect(Object.getPrototypeOf(redacted)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(redacted, '__proto__')?.value).toEqual({ password: '[REDACTED]', keep: 1 });
    expect(JSON.stringify(redacted)).toBe('{"__proto__":{"password":"[REDACTED]","keep":1},"a":[[[[[[["[…]"]]]]]]]}');
    // The same key judged again (its verdict is remembered) is redacted alike.
    expect(redact({ Password: 'again', password: 'again' })).toEqual({ Password: '[REDACTED]', password: '[REDACTED]' });
  });

  it('judges alike once it has stopped remembering verdicts: past thousands of client-chosen keys, and keys too long to keep', () => {
    const redact = createRedactor();
    // More distinct keys than the redactor remembers, half of them naming a credential.
    const many = Object.fromEntries(Array.from({ length: 6_000 }, (_, i) => [i % 2 === 0 ? `field${i}` : `field${i}_token`, 'v']));
    const first = redact({ ...many }) as Record<string, string>;
    const again = redact({ ...many, late_password: 'p', late_name: 'n' }) as Record<string, string>;
    for (const redacted of [first, again]) {
      expect(Object.entries(redacted).filter(([key]) => key.startsWith('field') && key.endsWith('_token')).every(([, value]) => value === '[REDACTED]')).toBe(true);
      expect(Object.entries(redacted).filter(([key]) => key.startsWith('field') && !key.endsWith('_token')).every(([, value]) => value === 'v')).toBe(true);
    }
    expect(again).toMatchObject({ late_password: '[REDACTED]', late_name: 'n' });
    const long = `${'x'.repeat(200)}_apiKey`;
    for (let i = 0; i < 3; i++) expect(redact({ [long]: 'k', [`${'x'.repeat(200)}_id`]: 'i' })).toEqual({ [long]: '[REDACTED]', [`${'x'.repeat(200)}_id`]: 'i' });
  });

  it('is applied by the log itself: a token, a password, a header value and a PAT never reach the file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-redact-'));
    const stores = await createEmbeddedStores({ dataDir, clock: new ManualClock(), redact: createRedactor() });
    const event = await stores.audit.append({
      type: 'mcp.request',
      outcome: 'SUCCESS',
      actor: 'a@example.com',
      data: { params: { arguments: { token: 'pcl_abc_secretsecret', password: 'hunter2-pw', headers: { Authorization: 'Bearer upstream-hdr-value' }, env: [{ GITHUB_PAT: 'ghp_pat-value', aws_secret_access_key: 'aws-sak-value' }], max_tokens: 256 } } },
    });
    await stores.close();
    const file = readFileSync(join(dataDir, AUDIT_FILE_NAME), 'utf8');
    for (const secret of ['pcl_abc_secretsecret', 'hunter2-pw', 'upstream-hdr-value', 'ghp_pat-value', 'aws-sak-value']) expect(file).not.toContain(secret);
    expect(event.data).toEqual({ params: { arguments: { token: '[REDACTED]', password: '[REDACTED]', headers: { Authorization: '[REDACTED]' }, env: [{ GITHUB_PAT: '[REDACTED]', aws_secret_access_key: '[REDACTED]' }], max_tokens: 256 } } });
  });
});

/** What a client's tools/call carries: each key with its value, at the top of the arguments, nested in an object and in arrays. */
function toolsCall(keys: readonly string[], value: (key: string) => unknown): Record<string, unknown> {
  const args = () => Object.fromEntries(keys.map((key) => [key, value(key)]));
  return { method: 'tools/call', params: { name: 'deploy', arguments: { ...args(), nested: { config: args() }, list: [args(), [args()]] } } };
}

describe('which keys name a credential', () => {
  // Each of these reached the log in clear while only a key's end was looked at.
  const missedBySuffix = ['secret_key', 'aws_secret_access_key', 'accessKey', 'tokens', 'apiKeys', 'passwords', 'client_secret_value', 'secretValue', 'passwordConfirmation', 'privateKeyPem', 'DB_PASS', 'GITHUB_PAT'];

  it('redacts a credential word anywhere in the key and in the plural, at any depth of a tools/call', () => {
    const redact = createRedactor();
    expect(redact(toolsCall(missedBySuffix, (key) => `value-of-${key}`))).toEqual(toolsCall(missedBySuffix, () => '[REDACTED]'));
  });

  it('finds the word however the key is spelt: snake_case, camelCase, kebab-case, dotted, UPPER_CASE, acronyms, no separators', () => {
    const isCredential = credentialKeyRule();
    for (const key of ['githubPat', 'GitHubPAT', 'PATToken', 'APIKey', 'x-api-key', 'smtp.pass', 'DB_PASS2', 'dbpassword', 'Proxy-Authorization', 'set-cookie', 'client.credentials', 'SSH_PRIVATE_KEY', 'signingKey', 'refresh_tokens', 'id_token', 'passPhrase', 'pwd', 'auth', 'connectionString']) {
      expect(isCredential(key), key).toBe(true);
    }
  });

  it('counts short words (pass, pat, pw, pin, auth) only as a whole word of the key: path, pattern, compatibility and passage are not credentials', () => {
    const isCredential = credentialKeyRule();
    for (const key of ['pass', 'DB_PASS', 'GITHUB_PAT', 'github-pats', 'db_pw', 'pin', 'basic_auth']) expect(isCredential(key), key).toBe(true);
    for (const key of ['path', 'file_path', 'pattern', 'globPattern', 'compatibility', 'passage', 'bypass', 'author', 'authority', 'spinner', 'key', 'publicKey']) expect(isCredential(key), key).toBe(false);
  });

  it('keeps keys whose last word describes a credential rather than holds it (id, type, name, policy, count, expiry), and still looks inside them', () => {
    const redact = createRedactor();
    const described = { tokenId: 't-1', token_type: 'Bearer', sessionId: 's-1', secret_name: 'prod/db', access_key_id: 'AKIAEXAMPLE', privateKeyPath: '/etc/key.pem', tokenExpiresAt: '2030-01-01T00:00:00Z', token_expires_at: 1, session_ttl: 60, accessTokenTtlSeconds: 600, passwordPolicy: { minLength: 12, password: 'example' } };
    expect(redact({ params: { arguments: described } })).toEqual({ params: { arguments: { ...described, passwordPolicy: { minLength: 12, password: '[REDACTED]' } } } });
    // A hint, a hash or a prefix can give the secret away: those stay redacted.
    expect(redact({ password_hint: 'h', password_hash: 'x', token_prefix: 'pcl_ab' })).toEqual({ password_hint: '[REDACTED]', password_hash: '[REDACTED]', token_prefix: '[REDACTED]' });
  });

  it('keeps LLM token counts readable (max_tokens, tokenCount), while tokens that may be credentials are redacted', () => {
    const counts = ['max_tokens', 'maxTokens', 'max_new_tokens', 'max_completion_tokens', 'maxOutputTokens', 'prompt_tokens', 'tokens_used', 'tokenCount', 'token_limit', 'tokenizer'];
    const redact = createRedactor();
    expect(redact(toolsCall(counts, () => 1024))).toEqual(toolsCall(counts, () => 1024));
    expect(redact({ tokens: ['a'], new_tokens: ['b'], cached_tokens: ['c'], max_tokens_secret: 'd' })).toEqual({ tokens: '[REDACTED]', new_tokens: '[REDACTED]', cached_tokens: '[REDACTED]', max_tokens_secret: '[REDACTED]' });
  });

  it('matches configured extra keys anywhere in the key, ids included: the operator named them', () => {
    const redact = createRedactor(['customer_id', 'tenantKey']);
    expect(redact({ customer_id: 'c', billingCustomerId: 'b', tenant_key_id: 't', customer: 'kept' })).toEqual({ customer_id: '[REDACTED]', billingCustomerId: '[REDACTED]', tenant_key_id: '[REDACTED]', customer: 'kept' });
  });
});
