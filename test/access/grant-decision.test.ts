import { describe, expect, it } from 'vitest';
import { CompiledGrant, decide, uriProblem } from '../../server/access/grant-decision.js';
import type { GrantTerms } from '../../server/access/grant-decision.js';

function grant(id: string, terms: Partial<GrantTerms>): CompiledGrant {
  return new CompiledGrant({
    id,
    rule: `role/request/${id}`,
    expiresAt: Infinity,
    tools: [],
    denyTools: [],
    resources: [],
    denyResources: [],
    prompts: [],
    denyPrompts: [],
    readOnly: false,
    readOnlyTools: null,
    arguments: {},
    ...terms,
  });
}

describe('grant decisions', () => {
  it('allows by an exact spelling only, and excludes by deny patterns whatever the case', () => {
    const g = grant('a', { tools: ['*'], denyTools: ['*delete*'], prompts: ['summarize', 'report-*'], denyPrompts: ['report-secret*'] });
    expect(decide([g], { kind: 'tool', name: 'read' })).toMatchObject({ allowed: true, grantId: 'a', rule: 'role/request/a', pattern: '*' });
    expect(decide([g], { kind: 'tool', name: 'Delete_All' })).toMatchObject({ allowed: false, reason: 'tool_not_granted', clause: 'denied_by_pattern', pattern: '*delete*' });
    expect(decide([g], { kind: 'prompt', name: 'Summarize' })).toMatchObject({ allowed: false, reason: 'prompt_not_granted', clause: 'not_in_grant' });
    expect(decide([g], { kind: 'prompt', name: 'REPORT-Secret-q3' })).toMatchObject({ allowed: false, clause: 'not_in_grant' });
    expect(decide([g], { kind: 'prompt', name: 'report-SECRET-q3' })).toMatchObject({ allowed: false, clause: 'denied_by_pattern', pattern: 'report-secret*' });
    expect(decide([g], { kind: 'prompt', name: 'report-q3' })).toMatchObject({ allowed: true });
  });

  it('never grants a name outside printable ASCII, even under `*`: look-alikes are refused before any pattern', () => {
    const g = grant('a', { tools: ['*'], prompts: ['*'], resources: ['*'] });
    for (const subject of [
      { kind: 'prompt', name: 'summarіze' }, // Cyrillic і
      { kind: 'prompt', name: 'ｓummarize' }, // fullwidth s
      { kind: 'prompt', name: 'sum marize' },
      { kind: 'tool', name: 'еcho' }, // Cyrillic е
      { kind: 'resource', uri: 'file:///srv/docs/ä.md' },
    ] as const) {
      expect(decide([g], subject)).toMatchObject({ allowed: false, clause: 'name_not_grantable', grantId: null });
    }
    expect(decide([g], { kind: 'prompt', name: '__proto__' })).toMatchObject({ allowed: true });
  });

  it('matches resource URIs only in their plain form', () => {
    expect(uriProblem('file:///srv/docs/a.md')).toBeNull();
    expect(uriProblem('db://users/1?fields=name#x')).toBeNull();
    expect(uriProblem('github://repo/owner%2Fname')).toBeNull();
    expect(uriProblem('file:///srv/docs/%20space.md')).toBeNull();
    expect(uriProblem('file:///srv/docs/')).toBeNull();
    expect(uriProblem('https://example.com/a?next=//b')).toBeNull();
    for (const [uri, problem] of [
      ['file:///srv/docs/../secret/key', 'dot segment'],
      ['file:///srv/docs/./a.md', 'dot segment'],
      ['file:///srv/docs/..%2Fsecret/key', 'dot segment'],
      ['file:///srv/docs/..%5csecret', 'dot segment'],
      ['file:///srv/docs/%2e%2e/secret/key', 'needs no encoding'],
      ['file:///srv/docs/%61.md', 'needs no encoding'],
      ['file:///srv/docs/%zz', 'malformed'],
      ['file:///srv/docs\\..\\secret', 'backslash'],
      ['FILE:///srv/docs/a.md', 'upper-case scheme'],
      ['/srv/docs/a.md', 'no scheme'],
      ['file:///srv/docs/a b', 'printable'],
      [`file:///${'a'.repeat(9000)}`, 'printable'],
      ['file://../etc/passwd', 'dot segment'],
      ['notes://..%2Fprivate/key', 'dot segment'],
      ['docs://./x', 'dot segment'],
      ['file:///srv//secrets/db', 'empty path segment'],
      ['file:////srv/secrets/db', 'empty path segment'],
      ['file:///srv/%2F/secrets/db', 'empty path segment'],
      ['note:a//b', 'empty path segment'],
      // Past a query or fragment mark: a `{+path}` template takes them whole, and a server joins it to its root.
      ['file:///srv/docs/x?/../../../etc/passwd', 'dot segment'],
      ['file:///srv/docs/x#/../secret/key.pem', 'dot segment'],
      ['file:///srv/docs/x?../..', 'dot segment'],
      ['file:///srv/docs/x?%2F..%2Fsecret', 'dot segment'],
    ] as const) {
      expect(uriProblem(uri), uri).toContain(problem);
    }
  });

  it('refuses a resource outside its patterns, or excluded (case folded), and checks templates as written', () => {
    const g = grant('a', { resources: ['file:///srv/docs/*', 'db://users/{id}'], denyResources: ['file:///srv/docs/private/*'] });
    expect(decide([g], { kind: 'resource', uri: 'file:///srv/docs/a.md' })).toMatchObject({ allowed: true, pattern: 'file:///srv/docs/*' });
    expect(decide([g], { kind: 'resource', uri: 'file:///srv/docs/PRIVATE/key' })).toMatchObject({ allowed: false, reason: 'resource_not_granted', clause: 'denied_by_pattern' });
    expect(decide([g], { kind: 'resource', uri: 'file:///srv/secret' })).toMatchObject({ allowed: false, clause: 'not_in_grant' });
    expect(decide([g], { kind: 'resource', uri: 'file:///srv/docs/../secret' })).toMatchObject({ allowed: false, clause: 'name_not_grantable', detail: 'has a dot segment' });
    // A server that decodes the slash reads what the exclusion names.
    for (const uri of ['file:///srv/docs/private%2Fkey.pem', 'file:///srv/docs/PRIVATE%2fkey', 'file:///srv/docs/private%5Ckey']) {
      expect(decide([g], { kind: 'resource', uri }), uri).toMatchObject({ allowed: false, clause: 'denied_by_pattern', pattern: 'file:///srv/docs/private/*' });
    }
    expect(decide([g], { kind: 'resource', uri: 'file:///srv/docs/public%2Fa.md' })).toMatchObject({ allowed: true });
    expect(decide([g], { kind: 'resourceTemplate', uriTemplate: 'file:///srv/docs/{name}' })).toMatchObject({ allowed: true });
    expect(decide([g], { kind: 'resourceTemplate', uriTemplate: 'db://users/{id}' })).toMatchObject({ allowed: true });
    expect(decide([g], { kind: 'resourceTemplate', uriTemplate: 'db://orders/{id}' })).toMatchObject({ allowed: false });
  });

  it('decides a URI with a query or fragment on it both as written and without them', () => {
    const g = grant('a', { resources: ['file:///srv/*', 'file:///notes/*.md', 'db://users/*'], denyResources: ['*.pem'] });
    for (const uri of ['file:///srv/tls/server.pem#', 'file:///srv/tls/server.pem?', 'file:///srv/tls/server.pem?x=1#y']) {
      expect(decide([g], { kind: 'resource', uri }), uri).toMatchObject({ allowed: false, clause: 'denied_by_pattern', pattern: '*.pem' });
    }
    // A pattern that ends in a suffix takes no query or fragment after it: fail closed.
    for (const uri of ['file:///notes/secret.txt#.md', 'file:///notes/secret.txt?.md', 'file:///notes/a.md#top']) {
      expect(decide([g], { kind: 'resource', uri }), uri).toMatchObject({ allowed: false, clause: 'not_in_grant' });
    }
    expect(decide([g], { kind: 'resource', uri: 'file:///srv/a.md#top' })).toMatchObject({ allowed: true, pattern: 'file:///srv/*' });
    expect(decide([g], { kind: 'resource', uri: 'db://users/1?fields=name' })).toMatchObject({ allowed: true, pattern: 'db://users/*' });
  });

  it('allows under a read-only grant only the tools that were read-only when it was issued and are read-only as shown now', () => {
    const g = grant('ro', { tools: ['*'], readOnly: true, readOnlyTools: ['list', 'read'] });
    const notReadOnly = { allowed: false, reason: 'tool_not_granted', clause: 'not_read_only', grantId: 'ro', pattern: '*' };
    expect(decide([g], { kind: 'tool', name: 'read', writable: false })).toMatchObject({ allowed: true });
    expect(decide([g], { kind: 'tool', name: 'write', writable: false })).toMatchObject(notReadOnly);
    // Changed since, or never shown: not covered.
    expect(decide([g], { kind: 'tool', name: 'read', writable: true })).toMatchObject(notReadOnly);
    expect(decide([g], { kind: 'tool', name: 'read' })).toMatchObject(notReadOnly);
    // Another grant covering it is not read-only.
    expect(decide([g, grant('all', { tools: ['*'] })], { kind: 'tool', name: 'read', writable: true })).toMatchObject({ allowed: true, grantId: 'all' });
  });

  it('checks a call\'s arguments against every schema of the grant, naming the path and never the value', () => {
    const g = grant('args', {
      tools: ['read-file', '__proto__'],
      arguments: {
        'read-file': [
          { type: 'object', properties: { path: { type: 'string', pattern: '^/srv/docs/' }, limit: { type: 'integer', maximum: 100 } }, required: ['path'] },
          { type: 'object', properties: { path: { type: 'string', pattern: '^/srv/docs/runbooks/' } } },
        ],
        ['__proto__']: [{ type: 'object', required: ['x'] }],
      },
    });
    const call = (args: unknown, name = 'read-file') => decide([g], { kind: 'tool', name, arguments: args });
    expect(call({ path: '/srv/docs/runbooks/a' })).toMatchObject({ allowed: true });
    expect(call({ path: '/srv/docs/other' })).toMatchObject({ allowed: false, reason: 'argument_not_allowed', clause: 'argument_rule', path: '/path', keyword: 'pattern' });
    expect(call({ path: '/srv/docs/runbooks/a', limit: 1000 })).toMatchObject({ allowed: false, path: '/limit', keyword: 'maximum' });
    expect(call({})).toMatchObject({ allowed: false, path: '/path', keyword: 'required' });
    expect(call(['/srv/docs/runbooks/a'])).toMatchObject({ allowed: false, path: '/', keyword: 'type' });
    expect(call(JSON.parse('{"__proto__": {"path": "/srv/docs/runbooks/a"}}'))).toMatchObject({ allowed: false, path: '/path', keyword: 'required' });
    expect(JSON.stringify(call({ path: 'hunter2-secret' }))).not.toContain('hunter2');
    expect(call({}, '__proto__')).toMatchObject({ allowed: false, path: '/x' });
    expect(call({ x: 1 }, '__proto__')).toMatchObject({ allowed: true });
    // Listing a tool checks no arguments: a rule narrows calls, it does not hide the tool.
    expect(decide([g], { kind: 'tool', name: 'read-file' })).toMatchObject({ allowed: true });
  });

  it('holds a tool to the argument rules of every name that folds to its own, as deny patterns match in any case', () => {
    const g = grant('args', {
      tools: ['*'],
      arguments: {
        'read-file': [{ type: 'object', properties: { path: { type: 'string', pattern: '^/srv/docs/' } }, required: ['path'] }],
        'Read-File': [{ type: 'object', properties: { limit: { type: 'integer', maximum: 10 } } }],
      },
    });
    for (const name of ['READ-FILE', 'read-file', 'Read-File']) {
      expect(decide([g], { kind: 'tool', name, arguments: { path: '/etc/passwd' } }), name).toMatchObject({ allowed: false, clause: 'argument_rule', path: '/path' });
      expect(decide([g], { kind: 'tool', name, arguments: { path: '/srv/docs/a', limit: 50 } }), name).toMatchObject({ allowed: false, clause: 'argument_rule', path: '/limit' });
      expect(decide([g], { kind: 'tool', name, arguments: { path: '/srv/docs/a', limit: 5 } }), name).toMatchObject({ allowed: true });
    }
    expect(decide([g], { kind: 'tool', name: 'other', arguments: { path: '/etc/passwd' } })).toMatchObject({ allowed: true });
  });

  it('allows when any grant does, and otherwise names the grant that came closest', () => {
    const narrow = grant('narrow', { tools: ['read-file'], arguments: { 'read-file': [{ type: 'object', properties: { path: { const: '/a' } } }] } });
    const other = grant('other', { tools: ['list'] });
    const wide = grant('wide', { tools: ['read-file'] });
    expect(decide([other, narrow], { kind: 'tool', name: 'read-file', arguments: { path: '/b' } })).toMatchObject({ allowed: false, clause: 'argument_rule', grantId: 'narrow' });
    expect(decide([other, narrow, wide], { kind: 'tool', name: 'read-file', arguments: { path: '/b' } })).toMatchObject({ allowed: true, grantId: 'wide' });
    expect(decide([], { kind: 'tool', name: 'read-file' })).toMatchObject({ allowed: false, clause: 'not_in_grant', grantId: null });
  });
});
