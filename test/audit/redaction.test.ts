import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRedactor } from '../../server/audit/redact.js';
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

  it('is applied by the log itself: a token, a password and a header value never reach the file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-redact-'));
    const stores = await createEmbeddedStores({ dataDir, clock: new ManualClock(), redact: createRedactor() });
    const event = await stores.audit.append({
      type: 'mcp.request',
      outcome: 'SUCCESS',
      actor: 'a@example.com',
      data: { params: { arguments: { token: 'pcl_abc_secretsecret', password: 'hunter2-pw', headers: { Authorization: 'Bearer upstream-hdr-value' } } } },
    });
    await stores.close();
    const file = readFileSync(join(dataDir, AUDIT_FILE_NAME), 'utf8');
    for (const secret of ['pcl_abc_secretsecret', 'hunter2-pw', 'upstream-hdr-value']) expect(file).not.toContain(secret);
    expect(event.data).toEqual({ params: { arguments: { token: '[REDACTED]', password: '[REDACTED]', headers: { Authorization: '[REDACTED]' } } } });
  });
});
