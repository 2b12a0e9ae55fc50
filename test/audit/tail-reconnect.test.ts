import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { followAuditFeed } from '../../clients/audit/tail.js';
import type { TailOptions } from '../../clients/audit/tail.js';
import { CliError } from '../../clients/cli/cli-error.js';
import { accessConfig } from '../support/access-fixture.js';
import { CuttableProxy } from '../support/cuttable-proxy.js';
import { createApiToken, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, signIn, configTrusting } from '../support/test-idp.js';

const POLL = { timeout: 15_000, interval: 50 };


describe('portcullis audit tail started without a cursor', () => {
  let server: TestServer;
  let token: string;
  let proxy: CuttableProxy;
  let stop: AbortController;
  let tail: Promise<void>;
  const written: { id: string; type: string }[] = [];
  const reported: string[] = [];

  beforeAll(async () => {
    const idp = await createTestIdp('corp');
    server = await startTestServer({ config: configTrusting([idp], { roles: accessConfig().roles, servers: accessConfig().servers }) });
    const cookie = await signIn(server.url, idp, { nameId: 'carol@example.com', attributes: { email: 'carol@example.com', groups: ['security'] } });
    token = await createApiToken(server.url, cookie, ['audit:read']);
    await server.stores.audit.append({ type: 'test.before', outcome: 'SUCCESS', actor: 'x@example.com', data: {} });
  });
  afterAll(() => server.close());
  afterEach(async () => {
    stop.abort();
    await tail.catch(() => {});
    await proxy.cut();
    written.length = 0;
    reported.length = 0;
  });

  /** Follows the feed in-process through a fresh proxy, which starts open unless told otherwise (its port is taken either way). */
  async function startTail(options: { open?: boolean; cursorFile?: string; token?: string; after?: string } = {}): Promise<void> {
    proxy = new CuttableProxy(Number(new URL(server.url).port));
    await proxy.open();
    if (options.open === false) await proxy.cut();
    stop = new AbortController();
    const follow: TailOptions = {
      broker: proxy.url,
      token: options.token ?? token,
      after: options.after,
      cursorFile: options.cursorFile,
      format: 'json',
      write: (line) => written.push(JSON.parse(line) as { id: string; type: string }),
      report: (line) => reported.push(line),
      signal: stop.signal,
    };
    tail = followAuditFeed(follow);
  }

  /** Cuts the feed once it is connected, appends two events while it is down, and reconnects it. */
  async function appendWhileDisconnected(): Promise<string[]> {
    // The tail connects its feed only once it knows where it starts: an ack means the start is fixed.
    await expect.poll(() => proxy.acks, POLL).toBeGreaterThan(0);
    await proxy.cut();
    const missed: string[] = [];
    for (let n = 0; n < 2; n++) missed.push((await server.stores.audit.append({ type: 'test.while-down', outcome: 'SUCCESS', actor: 'x@example.com', data: { n } })).id);
    await proxy.open();
    return missed;
  }

  it('resumes after the newest event when the feed drops before its first event: nothing appended meanwhile is lost', async () => {
    await startTail();
    const missed = await appendWhileDisconnected();
    await expect.poll(() => written.length, POLL).toBeGreaterThanOrEqual(2);
    // A live event after them shows nothing else (no duplicate) was written before it.
    const live = await server.stores.audit.append({ type: 'test.live', outcome: 'SUCCESS', actor: 'x@example.com', data: {} });
    await expect.poll(() => written.map((e) => e.id), POLL).toEqual([...missed, live.id]);
  });

  it('records the newest event as its cursor before any event arrives, so a restart resumes there too', async () => {
    const cursorFile = join(mkdtempSync(join(tmpdir(), 'portcullis-tail-')), 'cursor');
    const [newest] = await server.stores.audit.readBackward({ limit: 1 });
    await startTail({ cursorFile });
    await expect.poll(() => proxy.acks, POLL).toBeGreaterThan(0);
    expect(readFileSync(cursorFile, 'utf8').trim()).toBe(newest!.id);
    expect(written).toEqual([]);
  });

  it('retries finding the newest event while the broker is unreachable rather than starting from now', async () => {
    await startTail({ open: false });
    await expect.poll(() => reported.some((line) => line.includes('cannot read where the audit log ends')), POLL).toBe(true);
    await proxy.open();
    const missed = await appendWhileDisconnected();
    await expect.poll(() => written.map((e) => e.id), POLL).toEqual(missed);
  });

  it('ends with the refusal when the broker refuses the token', async () => {
    await startTail({ token: 'pcl_not-a-token' });
    await expect(tail).rejects.toSatisfy((error) => error instanceof CliError && error.code === 'UNAUTHENTICATED');
    expect(written).toEqual([]);
  });

  it('ends, rather than retrying for ever, when the feed itself refuses the token (a cursor given: no head lookup)', async () => {
    await startTail({ token: 'pcl_not-a-token', after: '1' });
    // graphql-ws refuses a connection its init does not admit with 4403.
    await expect(tail).rejects.toSatisfy((error) => error instanceof CliError && error.code === 'FORBIDDEN');
    expect(reported).toEqual([]);
  });
});
