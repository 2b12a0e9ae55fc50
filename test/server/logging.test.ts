import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { redactConfig } from '../../server/config/redact.js';
import { auditKeyPair } from '../support/audit-keys.js';
import { configSchema } from '../../server/config/schema.js';
import { createLogger } from '../../server/log.js';

function capture(secrets: string[]) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: 'trace', secrets: new Set(secrets), destination }), lines };
}

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
});

describe('config redaction for logs', () => {
  it('hides upstream env and header values, the Redis password and the audit signing key, even when written literally', () => {
    const { privateKey } = auditKeyPair();
    const config = configSchema.parse({
      server: { publicUrl: 'http://127.0.0.1:8080' },
      store: { redis: { url: 'redis://user:literal-redis-pw@redis.internal:6379' } },
      audit: { checkpoints: { privateKey } },
      servers: [
        { name: 'a', transport: 'stdio', command: 'x', env: { API_KEY: 'literal-api-key' } },
        { name: 'b', transport: 'streamable-http', url: 'http://127.0.0.1:9/mcp', headers: { Authorization: 'Bearer literal-token' } },
      ],
    });
    const text = JSON.stringify(redactConfig(config));
    for (const secret of ['literal-redis-pw', 'literal-api-key', 'literal-token', privateKey.split('\n')[1]!]) expect(text).not.toContain(secret);
    expect(text).toContain('"checkpoints":{"privateKey":"[REDACTED]","intervalSeconds":300}');
    expect(text).toContain('"API_KEY":"[REDACTED]"');
    expect(text).toContain('redis.internal:6379');
  });
});
