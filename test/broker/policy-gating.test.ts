import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../server/audit/types.js';
import { answerTo, fixtureServer, startBroker } from '../support/broker-fixture.js';
import type { BrokerFixture, BrokerPerson } from '../support/broker-fixture.js';

/**
 * Issue 14 on the wire: every MCP method a client sends through the broker is decided by
 * the grants (tools, resources, prompts, completion, read-only, argument rules), listings
 * show only what is granted, unknown methods are refused unless the operator allows them,
 * and what explainAccess says is what the broker does. Real upstreams (the MCP reference
 * server and the edge fixture), real SDK clients and raw frames over loopback WebSockets.
 */

const EVERYTHING = ['node_modules/@modelcontextprotocol/server-everything/dist/index.js', 'stdio'];
const TEXT = 'demo://resource/dynamic/text/';
const BLOB = 'demo://resource/dynamic/blob/';
const DOCS = 'demo://resource/static/document/';
const ARGUMENT_RULES = {
  'get-sum': { type: 'object', properties: { a: { type: 'number', maximum: 100 } }, required: ['a'] },
  echo: { properties: { message: { type: 'string', pattern: '^hello' } } },
};
const everything = (name: string, extra: Record<string, unknown> = {}) => ({ name, transport: 'stdio', command: process.execPath, args: EVERYTHING, ...extra });

const OVERRIDES = {
  roles: [
    {
      name: 'engineer',
      members: { groups: ['engineering'] },
      request: [
        {
          server: 'everything',
          tools: ['echo', 'get-sum', 'get-env', 'toggle-subscriber-updates'],
          // Deny patterns are case-folded: GET-ENV excludes get-env.
          denyTools: ['GET-ENV'],
          resources: [`${TEXT}*`, `${DOCS}*`],
          // The text template stays granted; the resources it leads to from 7 on do not.
          denyResources: [`${DOCS}INSTRUCTIONS*`, `${TEXT}7*`],
          prompts: ['*-prompt'],
          denyPrompts: ['Resource-*'],
          arguments: ARGUMENT_RULES,
          maxDurationSeconds: 3600,
          autoApprove: true,
        },
        // Written as before issue 14: tools only, so no resources and no prompts.
        { server: 'reader', tools: ['*'], readOnly: true, maxDurationSeconds: 3600, autoApprove: true },
        { server: 'edge', tools: ['*'], resources: ['edge://open/*'], maxDurationSeconds: 3600, autoApprove: true },
        { server: 'narrow', tools: ['echo'], maxDurationSeconds: 3600 },
      ],
    },
    { name: 'lead', members: { groups: ['sre'] }, review: [{ server: 'narrow', tools: ['*'] }] },
  ],
  servers: [
    everything('everything'),
    // The operator vouches for one tool the upstream does not mark read-only.
    everything('reader', { readOnlyTools: ['toggle-simulated-logging'] }),
    { ...fixtureServer('edge', 'edge-upstream'), allowMethods: ['edge/custom', 'notifications/edge-news'] },
    everything('narrow'),
  ],
};

type Outcome = { ok: true; result: unknown } | { ok: false; code?: number; message: string; data?: { reason?: string; clause?: string; path?: string } };

const settle = (promise: Promise<unknown>): Promise<Outcome> =>
  promise.then(
    (result) => ({ ok: true, result }),
    ({ code, message, data }: { code?: number; message: string; data?: Extract<Outcome, { ok: false }>['data'] }) => ({ ok: false, code, message, data }),
  );

const refused = (reason: string, clause: string, extra: Record<string, unknown> = {}) => ({ ok: false, code: -32001, data: { reason, clause, ...extra } });
const names = (items: { name: string }[]) => items.map((i) => i.name).sort();

async function deniedEvents(fx: BrokerFixture, actor: string): Promise<AuditEvent[]> {
  return (await fx.server.stores.audit.read({ limit: 10_000 })).filter((e) => e.actor === actor && e.outcome === 'DENIED');
}

describe('every MCP method decided by the grants', () => {
  let fx: BrokerFixture;
  let token: string;
  let grantId: string;
  let client: Client;
  let federated: Client;

  beforeAll(async () => {
    fx = await startBroker({ overrides: OVERRIDES });
    // Each kind omitted: what the rule offers.
    grantId = await fx.grant({}, 3600, 'everything');
    await fx.grant({}, 3600, 'reader');
    await fx.grant({}, 3600, 'edge');
    token = await fx.token();
    client = (await fx.connect(token)).client;
    federated = (await fx.connect(token, '')).client;
  });
  afterAll(() => fx.close());

  it('lists only granted tools and refuses the rest: outside the grant, denied by a case-folded pattern, a look-alike spelling', async () => {
    expect(names((await client.listTools()).tools)).toEqual(['echo', 'get-sum', 'toggle-subscriber-updates']);
    expect(await settle(client.callTool({ name: 'get-env', arguments: {} }))).toMatchObject(refused('tool_not_granted', 'denied_by_pattern'));
    expect(await settle(client.callTool({ name: 'get-tiny-image', arguments: {} }))).toMatchObject(refused('tool_not_granted', 'not_in_grant'));
    expect(await settle(client.callTool({ name: 'Echo', arguments: { message: 'hello' } }))).toMatchObject(refused('tool_not_granted', 'not_in_grant'));
  });

  it("forwards a call inside its argument rules and refuses one outside with the argument's path, never its value, audited with the grant and rule", async () => {
    expect(await settle(client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }))).toMatchObject({ ok: true, result: { content: [{ text: expect.stringContaining('5') }] } });
    expect(await settle(client.callTool({ name: 'echo', arguments: { message: 'hello there' } }))).toMatchObject({ ok: true });

    const tooBig = await settle(client.callTool({ name: 'get-sum', arguments: { a: 4242, b: 1 } }));
    expect(tooBig).toMatchObject(refused('argument_not_allowed', 'argument_rule', { path: '/a' }));
    expect(JSON.stringify(tooBig)).not.toContain('4242');
    expect(await settle(client.callTool({ name: 'get-sum', arguments: { b: 1 } }))).toMatchObject(refused('argument_not_allowed', 'argument_rule', { path: '/a' }));
    // A call without arguments is checked as one with none.
    expect(await settle(client.callTool({ name: 'get-sum' }))).toMatchObject(refused('argument_not_allowed', 'argument_rule'));
    const secret = await settle(client.callTool({ name: 'echo', arguments: { message: 'goodbye sk-live-value' } }));
    expect(secret).toMatchObject(refused('argument_not_allowed', 'argument_rule', { path: '/message' }));
    expect(JSON.stringify(secret)).not.toContain('sk-live-value');

    const audited = (await deniedEvents(fx, 'alice@example.com')).filter((e) => e.tool === 'get-sum');
    expect(audited[0]).toMatchObject({ server: 'everything', data: { method: 'tools/call', reason: 'argument_not_allowed', clause: 'argument_rule', grantId, rule: 'engineer/request/0', path: '/a', keyword: 'maximum' } });
  });

  it('lists granted resources and templates only; reads and subscribes within the grant; refuses outside, denied (any case) and unplain URIs', async () => {
    const listed = (await client.listResources()).resources.map((r) => r.uri);
    expect(listed.some((uri) => uri.startsWith(DOCS))).toBe(true);
    for (const uri of listed) expect(uri.startsWith(TEXT) || uri.startsWith(DOCS)).toBe(true);
    expect(listed.filter((uri) => uri.toLowerCase().startsWith(`${DOCS}instructions`))).toEqual([]);
    expect((await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate)).toEqual([`${TEXT}{resourceId}`]);

    expect(await settle(client.readResource({ uri: `${TEXT}1` }))).toMatchObject({ ok: true, result: { contents: [{ uri: `${TEXT}1` }] } });
    expect(await settle(client.subscribeResource({ uri: `${TEXT}1` }))).toMatchObject({ ok: true });
    expect(await settle(client.readResource({ uri: `${BLOB}1` }))).toMatchObject(refused('resource_not_granted', 'not_in_grant'));
    expect(await settle(client.subscribeResource({ uri: `${BLOB}1` }))).toMatchObject(refused('resource_not_granted', 'not_in_grant'));
    expect(await settle(client.unsubscribeResource({ uri: `${BLOB}1` }))).toMatchObject(refused('resource_not_granted', 'not_in_grant'));
    for (const uri of [`${DOCS}instructions.md`, `${DOCS}Instructions.md`]) {
      expect(await settle(client.readResource({ uri }))).toMatchObject(refused('resource_not_granted', 'denied_by_pattern'));
    }
    // Spellings an upstream might resolve to a URI outside the pattern that lets them in.
    for (const uri of [`${TEXT}..%2F..%2Fblob/1`, `${TEXT}1/../../blob/1`, `${TEXT}%31`, `DEMO://resource/dynamic/text/1`, `${TEXT}1\\..\\x`, `${TEXT}%zz`]) {
      expect(await settle(client.readResource({ uri })), uri).toMatchObject(refused('resource_not_granted', 'name_not_grantable'));
    }
  });

  it('lists granted prompts only; gets and completes within the grant; refuses a denied, ungranted or look-alike prompt and a template outside it', async () => {
    expect(names((await client.listPrompts()).prompts)).toEqual(['args-prompt', 'completable-prompt', 'simple-prompt']);
    expect(await settle(client.getPrompt({ name: 'simple-prompt' }))).toMatchObject({ ok: true, result: { messages: expect.any(Array) } });
    expect(await settle(client.getPrompt({ name: 'resource-prompt', arguments: { resourceType: 'Text', resourceId: '1' } }))).toMatchObject(refused('prompt_not_granted', 'denied_by_pattern'));
    expect(await settle(client.getPrompt({ name: 'simple-Prompt' }))).toMatchObject(refused('prompt_not_granted', 'not_in_grant'));
    expect(await settle(client.getPrompt({ name: 'simple‐prompt' }))).toMatchObject(refused('prompt_not_granted', 'name_not_grantable'));

    const completion = await settle(client.complete({ ref: { type: 'ref/prompt', name: 'completable-prompt' }, argument: { name: 'department', value: 'E' } }));
    expect(completion).toMatchObject({ ok: true, result: { completion: { values: expect.arrayContaining(['Engineering']) } } });
    expect(await settle(client.complete({ ref: { type: 'ref/prompt', name: 'resource-prompt' }, argument: { name: 'resourceType', value: 'T' } }))).toMatchObject(refused('prompt_not_granted', 'denied_by_pattern'));
    expect(await settle(client.complete({ ref: { type: 'ref/resource', uri: `${TEXT}{resourceId}` }, argument: { name: 'resourceId', value: '1' } }))).toMatchObject({ ok: true, result: { completion: { values: ['1'] } } });
    // A completion leading to a denied resource is left out: its name is what the client may not read.
    for (const value of ['7', '70']) {
      expect(await settle(client.complete({ ref: { type: 'ref/resource', uri: `${TEXT}{resourceId}` }, argument: { name: 'resourceId', value } })), value).toMatchObject({ ok: true, result: { completion: { values: [] } } });
    }
    expect(await settle(client.readResource({ uri: `${TEXT}7` }))).toMatchObject(refused('resource_not_granted', 'denied_by_pattern'));
    expect(await settle(client.complete({ ref: { type: 'ref/resource', uri: `${BLOB}{resourceId}` }, argument: { name: 'resourceId', value: '1' } }))).toMatchObject(refused('resource_not_granted', 'not_in_grant'));
  });

  it('decides a frame with duplicate keys on the value it forwards, and refuses methods MCP does not define, prototype names included', async () => {
    const ws = await fx.raw(token);
    await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    // JSON.parse keeps the last duplicate; the broker decides on it and forwards only it.
    expect(await answerTo(ws, '{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"simple-prompt","name":"resource-prompt"}}')).toMatchObject({ id: 1, error: { code: -32001, data: { reason: 'prompt_not_granted' } } });
    expect(await answerTo(ws, '{"jsonrpc":"2.0","id":2,"method":"prompts/get","params":{"name":"resource-prompt","name":"simple-prompt"}}')).toMatchObject({ id: 2, result: { messages: expect.any(Array) } });
    expect(await answerTo(ws, '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get-sum","arguments":{"a":1,"b":2,"a":500}}}')).toMatchObject({ id: 3, error: { data: { reason: 'argument_not_allowed', path: '/a' } } });
    let id = 10;
    for (const method of ['toString', '__proto__', 'constructor', 'hasOwnProperty', 'Tools/list', 'tools/list/', 'resources/templates', 'sampling/createMessage', 'edge/custom']) {
      expect(await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: {} })), method).toMatchObject({ id, error: { code: -32001, data: { reason: 'method_not_granted', clause: 'unknown_method' } } });
    }
    for (const name of ['__proto__', 'constructor', 'toString']) {
      expect(await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: { name, arguments: {} } })), name).toMatchObject({ id, error: { code: -32001, data: { reason: 'tool_not_granted' } } });
      expect(await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'prompts/get', params: { name } })), name).toMatchObject({ id, error: { code: -32001, data: { reason: 'prompt_not_granted' } } });
    }
    ws.close();
  });

  it('grants a read-only rule only the tools the upstream marks read-only or the operator lists, fixed when granted; a rule naming only tools grants no resources or prompts', async () => {
    const res = await fx.gql('{ grants(active: true) { items { server readOnly readOnlyTools } } }');
    const grant = (res.body.data as { grants: { items: { server: string; readOnly: boolean; readOnlyTools: string[] }[] } }).grants.items.find((g) => g.server === 'reader')!;
    expect(grant.readOnly).toBe(true);
    expect(grant.readOnlyTools).toEqual(expect.arrayContaining(['echo', 'get-sum', 'get-env', 'trigger-long-running-operation', 'toggle-simulated-logging']));
    for (const tool of ['toggle-subscriber-updates', 'gzip-file-as-resource', 'trigger-sampling-request']) expect(grant.readOnlyTools).not.toContain(tool);

    const { client: reader } = await fx.connect(token, 'reader');
    const listed = names((await reader.listTools()).tools);
    expect(listed).toEqual(expect.arrayContaining(['echo', 'get-sum', 'toggle-simulated-logging']));
    for (const tool of listed) expect(grant.readOnlyTools).toContain(tool);
    expect(await settle(reader.callTool({ name: 'echo', arguments: { message: 'anything' } }))).toMatchObject({ ok: true });
    expect(await settle(reader.callTool({ name: 'toggle-simulated-logging', arguments: {} }))).toMatchObject({ ok: true });
    expect(await settle(reader.callTool({ name: 'toggle-subscriber-updates', arguments: {} }))).toMatchObject(refused('tool_not_granted', 'not_read_only'));

    expect((await reader.listResources()).resources).toEqual([]);
    expect((await reader.listResourceTemplates()).resourceTemplates).toEqual([]);
    expect((await reader.listPrompts()).prompts).toEqual([]);
    expect(await settle(reader.readResource({ uri: `${TEXT}1` }))).toMatchObject(refused('resource_not_granted', 'not_in_grant'));
    expect(await settle(reader.getPrompt({ name: 'simple-prompt' }))).toMatchObject(refused('prompt_not_granted', 'not_in_grant'));
    await reader.close();
  });

  it('forwards a method the operator allows on its server, refuses other unknown methods and notifications, and relays resource news only for granted URIs', async () => {
    const ws = await fx.raw(token, 'edge');
    await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    // The upstream itself answers: it has no such method, but the broker let the request through.
    expect(await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'edge/custom', params: {} }))).toMatchObject({ id: 1, error: { code: -32601, message: expect.not.stringMatching(/Access denied/) } });
    expect(await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'edge/other', params: {} }))).toMatchObject({ id: 2, error: { code: -32001, data: { reason: 'method_not_granted' } } });
    // A notification is one only under notifications/, allowed or not.
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'edge/custom' }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/made-up' }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/edge-news' }));
    ws.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/roots/list_changed' }));
    const received = (await answerTo(ws, JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'notifications-received', arguments: {} } }))) as { result: { content: { text: string }[] } };
    expect(JSON.parse(received.result.content[0]!.text)).toEqual(['notifications/edge-news', 'notifications/roots/list_changed']);
    ws.close();
    await expect.poll(async () => (await deniedEvents(fx, 'alice@example.com')).filter((e) => e.type === 'mcp.notification').map((e) => [e.data.method, e.data.reason])).toEqual([
      ['edge/custom', 'not_a_notification'],
      ['notifications/made-up', 'method_not_granted'],
    ]);

    const { client: edge } = await fx.connect(token, 'edge');
    const updates: string[] = [];
    edge.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    const uris = ['edge://open/1', 'edge://secret/1', 'EDGE://open/2', 'edge://open/../secret/2', 'edge://open/%2e%2e/secret/3', 'edge://open/last'];
    await edge.callTool({ name: 'announce-updates', arguments: { uris } });
    await expect.poll(() => updates).toContain('edge://open/last');
    expect(updates).toEqual(['edge://open/1', 'edge://open/last']);
    await edge.close();
  });

  it('holds the federated endpoint to the same decisions under prefixed names', async () => {
    const tools = names((await federated.listTools()).tools);
    expect(tools.filter((t) => t.startsWith('everything__'))).toEqual(['everything__echo', 'everything__get-sum', 'everything__toggle-subscriber-updates']);
    expect(tools).not.toContain('reader__toggle-subscriber-updates');
    expect(names((await federated.listPrompts()).prompts)).toEqual(['everything__args-prompt', 'everything__completable-prompt', 'everything__simple-prompt']);
    expect(await settle(federated.callTool({ name: 'everything__get-sum', arguments: { a: 1000, b: 1 } }))).toMatchObject(refused('argument_not_allowed', 'argument_rule', { path: '/a' }));
    expect(await settle(federated.callTool({ name: 'reader__toggle-subscriber-updates', arguments: {} }))).toMatchObject({ ok: false, code: -32001, data: { reason: 'tool_not_granted' } });
    expect(await settle(federated.getPrompt({ name: 'everything__resource-prompt' }))).toMatchObject(refused('prompt_not_granted', 'denied_by_pattern'));
    expect(await settle(federated.readResource({ uri: `portcullis://everything/${TEXT}2` }))).toMatchObject({ ok: true });
    expect(await settle(federated.readResource({ uri: `portcullis://everything/${BLOB}2` }))).toMatchObject(refused('resource_not_granted', 'not_in_grant'));
    expect(await settle(federated.readResource({ uri: `portcullis://reader/${TEXT}2` }))).toMatchObject(refused('resource_not_granted', 'not_in_grant'));
  });

  it('explains each decision as the broker makes it: allowed, or refused with the same reason and clause', async () => {
    const cases: { server: string; method: string; name: string; arguments?: Record<string, unknown>; send: () => Promise<unknown> }[] = [
      { server: 'everything', method: 'tools/call', name: 'get-sum', arguments: { a: 1, b: 2 }, send: () => client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }) },
      { server: 'everything', method: 'tools/call', name: 'get-sum', arguments: { a: 101, b: 2 }, send: () => client.callTool({ name: 'get-sum', arguments: { a: 101, b: 2 } }) },
      { server: 'everything', method: 'tools/call', name: 'get-env', send: () => client.callTool({ name: 'get-env', arguments: {} }) },
      { server: 'everything', method: 'resources/read', name: `${DOCS}instructions.md`, send: () => client.readResource({ uri: `${DOCS}instructions.md` }) },
      { server: 'everything', method: 'resources/read', name: `${BLOB}3`, send: () => client.readResource({ uri: `${BLOB}3` }) },
      { server: 'everything', method: 'prompts/get', name: 'args-prompt', send: () => client.getPrompt({ name: 'args-prompt', arguments: { city: 'Oslo' } }) },
      { server: 'everything', method: 'completion/complete', name: 'resource-prompt', send: () => client.complete({ ref: { type: 'ref/prompt', name: 'resource-prompt' }, argument: { name: 'resourceType', value: 'T' } }) },
      { server: 'reader', method: 'tools/call', name: 'toggle-subscriber-updates', send: () => federated.callTool({ name: 'reader__toggle-subscriber-updates', arguments: {} }) },
    ];
    const query = `query($server: String!, $method: String!, $name: String, $arguments: JSON) {
      explainAccess(server: $server, method: $method, name: $name, arguments: $arguments) { allowed reason clause grantId argumentPath }
    }`;
    for (const { send, ...ask } of cases) {
      const explained = ((await fx.gql(query, ask)).body.data as { explainAccess: { allowed: boolean; reason: string | null; clause: string; argumentPath: string | null } }).explainAccess;
      const actual = await settle(send());
      const label = `${ask.method} ${ask.name}`;
      expect(explained.allowed, label).toBe(actual.ok);
      if (!actual.ok) expect({ reason: explained.reason, clause: explained.clause }, label).toEqual({ reason: actual.data?.reason, clause: actual.data?.clause });
      if (!actual.ok && actual.data?.path) expect(explained.argumentPath, label).toBe(actual.data.path);
    }
  });
});

describe("an approver's narrower argument rules on the wire", () => {
  let fx: BrokerFixture;
  let bob: BrokerPerson;
  beforeAll(async () => {
    fx = await startBroker({ overrides: OVERRIDES });
    bob = await fx.signInAs('bob@example.com');
  });
  afterAll(() => fx.close());

  it('holds calls to the rule and to what the approver added', async () => {
    const asked = await bob.gql('mutation($input: CreateAccessRequestInput!) { createAccessRequest(input: $input) { id status } }', {
      input: { server: 'narrow', tools: ['echo'], reason: 'docs', durationSeconds: 600 },
    });
    const request = (asked.body.data as { createAccessRequest: { id: string; status: string } }).createAccessRequest;
    expect(request.status).toBe('PENDING');
    const lead = await fx.signInAs('lena@example.com', ['sre']);
    const approved = await lead.gql('mutation($input: ReviewAccessRequestInput!) { reviewAccessRequest(input: $input) { status grant { argumentRules } } }', {
      input: { requestId: request.id, decision: 'APPROVE', arguments: { echo: { properties: { message: { maxLength: 5 } } } } },
    });
    expect(approved.body.data).toMatchObject({ reviewAccessRequest: { status: 'APPROVED', grant: { argumentRules: { echo: [{ properties: { message: { maxLength: 5 } } }] } } } });

    const { client } = await fx.connect(await bob.token(), 'narrow');
    expect(await settle(client.callTool({ name: 'echo', arguments: { message: 'short' } }))).toMatchObject({ ok: true });
    expect(await settle(client.callTool({ name: 'echo', arguments: { message: 'far too long' } }))).toMatchObject(refused('argument_not_allowed', 'argument_rule', { path: '/message' }));
    expect(await settle(client.callTool({ name: 'get-sum', arguments: { a: 1, b: 1 } }))).toMatchObject(refused('tool_not_granted', 'not_in_grant'));
    await client.close();
  });
});
