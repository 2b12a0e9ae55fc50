import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadVendoredOcsfSchema, validateOcsf } from '../../clients/audit/ocsf-validate.js';
import { jsonLine } from '../../server/text/json-line.js';
import { accessConfig } from '../support/access-fixture.js';
import { postGraphQL, startTestServer } from '../support/test-server.js';
import type { TestServer } from '../support/test-server.js';
import { createTestIdp, signIn, configTrusting } from '../support/test-idp.js';

/** Runs `portcullis audit tail` until it has printed `count` lines, then stops it. */
function tail(args: string[], env: NodeJS.ProcessEnv, count: number): Promise<Record<string, unknown>[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'clients/cli/main.ts', 'audit', 'tail', ...args], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let done = false;
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`timed out; stdout: ${out} stderr: ${err}`));
    }, 20_000);
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const lines = out.split('\n').filter(Boolean);
      if (lines.length >= count && !done) {
        done = true;
        clearTimeout(timer);
        // Give it a moment to finish what it was writing, then report every line it wrote.
        setTimeout(() => {
          child.kill();
          resolve(out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>));
        }, 300);
      }
    });
  });
}

describe('portcullis audit tail', () => {
  let server: TestServer;
  let token: string;
  beforeAll(async () => {
    const idp = await createTestIdp('corp');
    server = await startTestServer({ config: configTrusting([idp], { roles: accessConfig().roles, servers: accessConfig().servers }) });
    const cookie = await signIn(server.url, idp, { nameId: 'carol@example.com', attributes: { email: 'carol@example.com', groups: ['security'] } });
    token = ((await postGraphQL(server.url, { query: 'mutation { createApiToken(name: "siem", scopes: ["audit:read"], ttlSeconds: 600) { token } }' }, { cookie })).body.data as { createApiToken: { token: string } }).createApiToken.token;
    for (let n = 0; n < 6; n++) await server.stores.audit.append({ type: 'test.event', outcome: n % 2 ? 'DENIED' : 'SUCCESS', actor: 'x@example.com', server: 'everything', data: { n } });
  });
  afterAll(() => server.close());

  it('streams JSON lines from a cursor and resumes from its cursor file without gap or duplicate', async () => {
    const cursorFile = join(mkdtempSync(join(tmpdir(), 'portcullis-tail-')), 'cursor');
    const env = { PORTCULLIS_TOKEN: token, XDG_CONFIG_HOME: '/nonexistent' };
    const first = await tail(['--broker', server.url, '--after', '0', '--cursor-file', cursorFile], env, 3);
    const ids = first.map((e) => Number(e.id));
    expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1));
    expect(readFileSync(cursorFile, 'utf8').trim()).toBe(String(ids.at(-1)));
    for (let n = 0; n < 2; n++) await server.stores.audit.append({ type: 'test.later', outcome: 'SUCCESS', actor: 'x@example.com', data: { n } });
    const rest = await tail(['--broker', server.url, '--cursor-file', cursorFile], env, 2);
    expect(rest.map((e) => Number(e.id))).toEqual([ids.at(-1)! + 1, ids.at(-1)! + 2]);
  });

  it('writes schema-valid OCSF 1.1.0 events with --format ocsf', async () => {
    const [login, ...rest] = await tail(['--broker', server.url, '--after', '0', '--format', 'ocsf'], { PORTCULLIS_TOKEN: token, XDG_CONFIG_HOME: '/nonexistent' }, 3);
    expect(login).toMatchObject({ class_uid: 3002, activity_id: 1, type_uid: 300201, status_id: 1, user: { email_addr: 'carol@example.com' }, service: { name: 'Portcullis' }, metadata: { version: '1.1.0', uid: '1' } });
    const schema = loadVendoredOcsfSchema();
    for (const event of [login!, ...rest]) expect(validateOcsf(schema, event)).toEqual([]);
  });
});

describe('an audit tail line', () => {
  it('escapes what a terminal or a line-splitting reader would act on, and reads back as the same event', () => {
    const event = { id: '7', data: { client: 'evil\u009b2J\u009b31mroot', note: 'a\u2028b\u2029c\u0085d\u007f' } };
    const line = jsonLine(event);
    expect(line).not.toMatch(/[\u007f-\u009f\u2028\u2029]/);
    expect(line).toContain('\\u009b2J');
    expect(JSON.parse(line)).toEqual(event);
  });
});
