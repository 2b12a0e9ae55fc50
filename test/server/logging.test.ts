import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
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
