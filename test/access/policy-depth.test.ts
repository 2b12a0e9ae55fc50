import { afterEach, describe, expect, it } from 'vitest';
import { compileArgumentRules } from '../../server/access/argument-rules.js';
import { configSchema } from '../../server/config/schema.js';
import { accessFixture } from '../support/access-fixture.js';
import { codeOf } from '../support/error-code.js';
import type { AccessFixture, Backend } from '../support/access-fixture.js';
import { sharedRedisUrl } from '../support/redis.js';

const HOUR = 3600;
const DOCS_PATH = { type: 'object', properties: { path: { type: 'string', pattern: '^/srv/docs/' } }, required: ['path'] };

/** Rules over tools, resources, prompts, read-only and arguments (issue 14). */
const config = configSchema.parse({
  server: { publicUrl: 'http://127.0.0.1:8080' },
  roles: [
    {
      name: 'engineer',
      members: { groups: ['engineering'] },
      request: [
        { server: 'files', tools: ['read-file', 'write-file'], resources: ['file:///srv/docs/*'], denyResources: ['file:///srv/docs/private/*'], prompts: ['summarize'], arguments: { 'read-file': DOCS_PATH }, maxDurationSeconds: 4 * HOUR },
        { server: 'files', tools: ['*'], readOnly: true, maxDurationSeconds: HOUR },
      ],
    },
    { name: 'lead', members: { groups: ['sre'] }, review: [{ server: 'files', tools: ['*'], resources: ['*'], prompts: ['*'] }] },
    { name: 'tool-reviewer', members: { groups: ['support'] }, review: [{ server: 'files', tools: ['*'] }] },
  ],
  approvals: { requiredApprovals: 1, requestTtlSeconds: 3600, maxDurationSeconds: 86400 },
  servers: [{ name: 'files', transport: 'stdio', command: 'node', readOnlyTools: ['list-files'] }],
});

const backends: Backend[] = sharedRedisUrl ? ['embedded', 'redis'] : ['embedded'];

for (const backend of backends) {
  describe(`grants beyond tools (${backend} store)`, () => {
    const fixtures: AccessFixture[] = [];
    /** The server's read-only tools as the catalog would say at each moment (a test changes it). */
    let readOnlyNow: string[] = [];
    const readOnlyAsked: string[] = [];
    const fixture = async () => {
      const created = await accessFixture(backend, {
        config,
        readOnlyTools: async (server) => {
          readOnlyAsked.push(server);
          return [...readOnlyNow];
        },
      });
      fixtures.push(created);
      return created;
    };
    afterEach(async () => {
      readOnlyAsked.length = 0;
      await Promise.all(fixtures.splice(0).map((f) => f.stores.close()));
    });

    it('carries resources, prompts, deny lists, argument rules and the rule label from the rule into the request', async () => {
      const fx = await fixture();
      const request = await fx.access.createRequest(fx.as('frank'), { server: 'files', tools: ['read-file'], reason: 'docs', durationSeconds: HOUR });
      expect(request).toMatchObject({
        rule: 'engineer/request/0',
        tools: ['read-file'],
        resources: ['file:///srv/docs/*'],
        denyResources: ['file:///srv/docs/private/*'],
        prompts: ['summarize'],
        readOnly: false,
        arguments: { 'read-file': [DOCS_PATH] },
      });
    });

    it('asks for fewer resources and prompts than the rule offers, and refuses any outside it', async () => {
      const fx = await fixture();
      const narrow = await fx.access.createRequest(fx.as('frank'), { server: 'files', tools: ['read-file'], resources: ['file:///srv/docs/runbooks/*'], prompts: [], reason: 'r', durationSeconds: HOUR });
      expect(narrow).toMatchObject({ resources: ['file:///srv/docs/runbooks/*'], prompts: [] });
      expect(await codeOf(fx.access.createRequest(fx.as('frank'), { server: 'files', resources: ['file:///etc/*'], reason: 'r', durationSeconds: HOUR }))).toBe('TOOL_NOT_REQUESTABLE');
      expect(await codeOf(fx.access.createRequest(fx.as('frank'), { server: 'files', resources: ['file:///srv/docs/private/x'], reason: 'r', durationSeconds: HOUR }))).toBe('TOOL_NOT_REQUESTABLE');
      expect(await codeOf(fx.access.createRequest(fx.as('frank'), { server: 'files', prompts: ['other'], reason: 'r', durationSeconds: HOUR }))).toBe('TOOL_NOT_REQUESTABLE');
      expect(await codeOf(fx.access.createRequest(fx.as('frank'), { server: 'files', resources: ['file:///srv/docs/ x'], reason: 'r', durationSeconds: HOUR }))).toBe('INVALID_INPUT');
    });

    it('leaves a request that names resources to reviewers whose rules cover resources too', async () => {
      const fx = await fixture();
      const request = await fx.access.createRequest(fx.as('frank'), { server: 'files', tools: ['read-file'], reason: 'r', durationSeconds: HOUR });
      expect(await codeOf(fx.access.reviewRequest(fx.as('dave'), { requestId: request.id, decision: 'APPROVE' }))).toBe('NOT_FOUND');
      expect((await fx.access.reviewRequest(fx.as('bob'), { requestId: request.id, decision: 'APPROVE' })).status).toBe('APPROVED');
    });

    it('fixes the read-only tools into the grant when it is approved, not when asked, and keeps them whatever the server says later', async () => {
      const fx = await fixture();
      readOnlyNow = ['list-files'];
      const request = await fx.access.createRequest(fx.as('frank'), { server: 'files', tools: ['*'], readOnly: true, reason: 'look around', durationSeconds: HOUR });
      expect(request).toMatchObject({ rule: 'engineer/request/1', readOnly: true });
      expect(readOnlyAsked).toEqual([]);
      readOnlyNow = ['list-files', 'read-file'];
      const approved = await fx.access.reviewRequest(fx.as('bob'), { requestId: request.id, decision: 'APPROVE' });
      expect(readOnlyAsked).toEqual(['files']);
      readOnlyNow = ['list-files', 'read-file', 'write-file'];
      const grant = await fx.access.getGrant(fx.as('frank'), approved.grantId!);
      expect(grant).toMatchObject({ readOnly: true, readOnlyTools: ['list-files', 'read-file'] });
      const issued = (await fx.stores.audit.read({ limit: 100 })).find((e) => e.type === 'grant.issued');
      expect(issued?.data).toMatchObject({ readOnly: true, readOnlyTools: ['list-files', 'read-file'], rule: 'engineer/request/1' });
    });

    it('keeps a read-only rule read-only: a request cannot ask it not to be', async () => {
      const fx = await fixture();
      const request = await fx.access.createRequest(fx.as('frank'), { server: 'files', tools: ['list-files'], readOnly: false, reason: 'r', durationSeconds: HOUR });
      // read-file and write-file fit rule 0 too, but list-files only the read-only rule 1.
      expect(request).toMatchObject({ rule: 'engineer/request/1', readOnly: true });
    });

    it('lets an approver narrow the arguments: the grant carries the rule\'s schema and the approver\'s, both audited', async () => {
      const fx = await fixture();
      const request = await fx.access.createRequest(fx.as('frank'), { server: 'files', tools: ['read-file'], reason: 'r', durationSeconds: HOUR });
      const runbooks = { type: 'object', properties: { path: { type: 'string', pattern: '^/srv/docs/runbooks/' } } };
      // As a client's JSON would carry it: `__proto__` an own key, a tool name like any other.
      const narrowing = JSON.parse(`{"read-file": ${JSON.stringify(runbooks)}, "__proto__": {"type": "object"}}`) as Record<string, unknown>;
      const approved = await fx.access.reviewRequest(fx.as('bob'), { requestId: request.id, decision: 'APPROVE', arguments: narrowing });
      expect(Object.entries(approved.reviews[0]?.arguments ?? {})).toEqual([
        ['read-file', runbooks],
        ['__proto__', { type: 'object' }],
      ]);
      const grant = await fx.access.getGrant(fx.as('frank'), approved.grantId!);
      expect(Object.entries(grant.arguments)).toEqual([
        ['read-file', [DOCS_PATH, runbooks]],
        ['__proto__', [{ type: 'object' }]],
      ]);
      const reviewed = (await fx.stores.audit.read({ limit: 100 })).find((e) => e.type === 'access_request.reviewed');
      expect(reviewed?.data).toMatchObject({ arguments: { 'read-file': runbooks } });
    });

    it('refuses narrowing that is not a valid schema, or that goes with DENY, and changes nothing', async () => {
      const fx = await fixture();
      const request = await fx.access.createRequest(fx.as('frank'), { server: 'files', tools: ['read-file'], reason: 'r', durationSeconds: HOUR });
      expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: request.id, decision: 'APPROVE', arguments: { 'read-file': { type: 'object', propertys: {} } } }))).toBe('INVALID_INPUT');
      expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: request.id, decision: 'APPROVE', arguments: { 'read-file': { type: 'string', format: 'no-such-format' } } }))).toBe('INVALID_INPUT');
      expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: request.id, decision: 'APPROVE', arguments: { 'bad name!': { type: 'object' } } }))).toBe('INVALID_INPUT');
      expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: request.id, decision: 'APPROVE', arguments: { 'read-file': [] } as never }))).toBe('INVALID_INPUT');
      expect(await codeOf(fx.access.reviewRequest(fx.as('bob'), { requestId: request.id, decision: 'DENY', arguments: { 'read-file': { type: 'object' } } }))).toBe('INVALID_INPUT');
      expect(await fx.access.getRequest(fx.as('frank'), request.id)).toEqual(request);
      expect((await fx.stores.audit.read({ limit: 100 })).map((e) => e.type)).toEqual(['access_request.created']);
    });
  });
}

describe('config rules', () => {
  const base = { server: { publicUrl: 'http://127.0.0.1:8080' }, servers: [{ name: 'files', transport: 'stdio', command: 'node' }] };
  const withRule = (rule: Record<string, unknown>) => configSchema.safeParse({ ...base, roles: [{ name: 'r', members: { groups: ['g'] }, request: [{ server: 'files', maxDurationSeconds: 60, ...rule }] }] });
  const problems = (rule: Record<string, unknown>) => {
    const parsed = withRule(rule);
    return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('still loads a rule written before issue 14 (tools only), granting no resources and no prompts', () => {
    const parsed = withRule({ tools: ['echo'], denyTools: ['*delete*'], autoApprove: true });
    expect(parsed.success).toBe(true);
    expect(parsed.data?.roles[0]?.request[0]).toMatchObject({ tools: ['echo'], resources: [], prompts: [], readOnly: false, arguments: {} });
  });

  it('refuses a rule that names nothing, an argument rule that is not a schema, and a typo in a keyword', () => {
    expect(problems({})).toEqual([expect.stringContaining('at least one pattern in tools, resources or prompts')]);
    expect(problems({ tools: ['echo'], arguments: { echo: { type: 'object', maxLenght: 3 } } })).toEqual([expect.stringMatching(/^roles\.0\.request\.0\.arguments\.echo: not a valid JSON Schema: strict mode: unknown keyword: "maxLenght"/)]);
    expect(problems({ tools: ['echo'], arguments: { 'echo*': { type: 'object' } } })).toEqual([expect.stringContaining('expected a tool name')]);
    expect(problems({ resources: ['file:///srv/docs/ with space'] })).toEqual([expect.stringContaining('expected a resource URI pattern')]);
  });

  it('runs argument patterns on a linear engine: a nested quantifier meets a crafted argument and still answers (a backtracking engine would take hours)', () => {
    const check = compileArgumentRules([{ type: 'object', properties: { path: { type: 'string', pattern: '^(/srv/[a-z]+)+$' }, tag: { type: 'string', pattern: '^(a+)+$' } } }]);
    expect(check({ path: `/srv/${'a'.repeat(40)}!` })).toEqual({ ok: false, path: '/path', keyword: 'pattern' });
    expect(check({ tag: `${'a'.repeat(40)}!` })).toEqual({ ok: false, path: '/tag', keyword: 'pattern' });
    expect(check({ path: '/srv/docs/srv/img', tag: 'aaa' })).toEqual({ ok: true });
    // Unanchored as ECMA-262 patterns are, and Unicode-aware.
    expect(compileArgumentRules([{ properties: { q: { pattern: 'SELECT' } } }])({ q: 'x SELECT y' })).toEqual({ ok: true });
    expect(compileArgumentRules([{ properties: { q: { pattern: '^\\p{L}+$' } } }])({ q: 'élan' })).toEqual({ ok: true });
  });

  it('refuses every call of a tool whose stored rule no longer compiles (a lookahead from before RE2), and only of that tool', () => {
    expect(compileArgumentRules([{ properties: { q: { pattern: '^(?!DROP)' } } }])({ q: 'SELECT 1' })).toEqual({ ok: false, path: '/', keyword: 'schema' });
    expect(compileArgumentRules([{ properties: { q: { pattern: '^SELECT' } } }])({ q: 'SELECT 1' })).toEqual({ ok: true });
  });

  it('refuses a pattern a linear engine cannot run (lookaround, backreferences) when the rule is loaded', () => {
    expect(problems({ tools: ['echo'], arguments: { echo: { properties: { q: { pattern: '^(?!DROP)' } } } } })).toEqual([expect.stringContaining('not a valid JSON Schema')]);
    expect(problems({ tools: ['echo'], arguments: { echo: { properties: { q: { pattern: '(a)\\1' } } } } })).toEqual([expect.stringContaining('not a valid JSON Schema')]);
  });

  it('accepts resources or prompts alone, and operator read-only tools and allowed methods on a server', () => {
    expect(withRule({ resources: ['file:///srv/*'] }).success).toBe(true);
    expect(withRule({ prompts: ['summarize'] }).success).toBe(true);
    const parsed = configSchema.safeParse({ ...base, servers: [{ name: 'files', transport: 'stdio', command: 'node', readOnlyTools: ['list-files'], allowMethods: ['files/custom'] }] });
    expect(parsed.success && parsed.data.servers[0]).toMatchObject({ readOnlyTools: ['list-files'], allowMethods: ['files/custom'] });
    expect(configSchema.safeParse({ ...base, servers: [{ name: 'files', transport: 'stdio', command: 'node', readOnlyTools: ['list*'] }] }).success).toBe(false);
  });
});
