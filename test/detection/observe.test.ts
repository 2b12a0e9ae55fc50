import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestEvent } from '../../broker/request-audit.js';
import type { AuditEvent, AuditEventInput } from '../../server/audit/types.js';
import { GrantRoles } from '../../server/detection/grant-roles.js';
import { observe } from '../../server/detection/observe.js';
import { createEmbeddedStores } from '../../server/stores/embedded/index.js';
import type { Stores } from '../../server/stores/types.js';
import { ManualClock } from '../support/manual-clock.js';
import { grantRecord, requestRecord } from '../stores/store-contract.js';

const ALICE = 'alice@example.com';
const clock = new ManualClock();
let stores: Stores;

beforeAll(async () => {
  stores = await createEmbeddedStores({ dataDir: mkdtempSync(join(tmpdir(), 'portcullis-observe-')), clock });
});
afterAll(async () => {
  await stores.close();
});

/** The event as the log stores it and hands it back (redacted, bounded, chained). */
async function recorded(input: Partial<AuditEventInput> & Pick<AuditEventInput, 'type'>): Promise<AuditEvent> {
  const appended = await stores.audit.append({ outcome: 'SUCCESS', actor: ALICE, server: 'everything', sessionId: 's-1', ...input });
  const [read] = await stores.audit.read({ after: String(Number(appended.id) - 1), limit: 1 });
  return read!;
}

const call = (args: unknown, extra: Record<string, unknown> = {}) =>
  recorded({ type: 'mcp.request', tool: 'echo', data: { method: 'tools/call', id: 1, params: { name: 'echo', arguments: args }, grantId: 'g-1', ...extra }, bounded: ['params'] });

const noRole = () => null;

describe('observe: allowed requests', () => {
  it('reads a tools/call as a call: its time, tool, grant, role, params size and arguments digest', async () => {
    const event = await call({ message: 'hi', count: 2 });
    const observation = observe(event, (grantId) => (grantId === 'g-1' ? 'engineer' : null));
    expect(observation).toMatchObject({
      kind: 'call',
      user: ALICE,
      at: Date.parse(event.time),
      server: 'everything',
      tool: 'echo',
      method: 'tools/call',
      grantId: 'g-1',
      role: 'engineer',
      paramsBytes: Buffer.byteLength(JSON.stringify({ name: 'echo', arguments: { message: 'hi', count: 2 } })),
      denial: null,
    });
    expect(observation!.argumentsDigest).toMatch(/^[\w-]{16}$/);
  });

  it('digests the same arguments alike in any key order, and other arguments otherwise', async () => {
    const digest = async (args: unknown) => observe(await call(args), noRole)!.argumentsDigest;
    expect(await digest({ a: 1, b: { c: 'x', d: 'y' } })).toBe(await digest({ b: { d: 'y', c: 'x' }, a: 1 }));
    expect(await digest({ a: 1 })).not.toBe(await digest({ a: 2 }));
  });

  it('takes the size of params the log cut from what it recorded of the whole', async () => {
    const message = 'x'.repeat(100_000);
    const event = await call({ message });
    expect(event.data.paramsTruncated).toBeDefined();
    expect(observe(event, noRole)!.paramsBytes).toBe(Buffer.byteLength(JSON.stringify({ name: 'echo', arguments: { message } })));
  });

  it('reads the client an initialize introduces', async () => {
    const event = await recorded({ type: 'mcp.request', data: { method: 'initialize', id: 0, params: { protocolVersion: '2025-11-25', clientInfo: { name: 'claude-code', version: '2.1.0' } } }, bounded: ['params'] });
    expect(observe(event, noRole)).toMatchObject({ kind: 'call', method: 'initialize', client: { name: 'claude-code', version: '2.1.0', oauthClientId: null }, argumentsDigest: null, grantId: null });
  });
});

/**
 * A call's arguments are digested as redacted, by the log before it cuts them to size
 * (server/audit/admit-event.ts `digests`) or by the detector from params kept whole:
 * padded params still count, each as its own value, and no digest holds a bit of a secret
 * (so values under a credential's name, a pageToken among them, digest alike).
 */
describe('observe: the arguments digest the log takes before bounding', () => {
  const sent = (args: unknown, outcome: 'SUCCESS' | 'DENIED' = 'SUCCESS') =>
    recorded(requestEvent({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_files', arguments: args } }, 'list_files', outcome, outcome === 'SUCCESS' ? { grantId: 'g-1' } : { reason: 'argument_not_allowed' }));
  const digestOf = async (args: unknown) => observe(await sent(args), noRole)!.argumentsDigest;

  it('holds nothing of a redacted value: arguments that differ only under a credential\'s name digest alike', async () => {
    const first = await sent({ pageToken: 'page-two-secret', folder: 'a' });
    expect(first.data.params).toEqual({ name: 'list_files', arguments: { pageToken: '[REDACTED]', folder: 'a' } });
    // Kept whole, the params are digested by the detector from the log itself; only a cut makes the log record a digest.
    expect(first.data).not.toHaveProperty('argumentsDigest');
    expect(await digestOf({ pageToken: 'AAA1', folder: 'a' })).toBe(await digestOf({ pageToken: 'BBB2', folder: 'a' }));
    expect(await digestOf({ pageToken: 'AAA1', folder: 'a' })).not.toBe(await digestOf({ pageToken: 'AAA1', folder: 'b' }));
  });

  it('tells params padded past 8 KiB apart, which the log keeps only as a marker', async () => {
    const padded = (id: number) => ({ id, note: Array.from({ length: 20 }, () => 'p'.repeat(600)) });
    expect((await sent(padded(1))).data.params).toBe('[too large]');
    const [one, two] = [await digestOf(padded(1)), await digestOf(padded(2))];
    expect((await sent(padded(1))).data.argumentsDigest).toBe(one);
    expect(one).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(two).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(one).not.toBe(two);
  });

  it('digests the same arguments alike in any key order, and carries none on a refused call', async () => {
    expect(await digestOf({ a: 1, b: { c: 'x', d: 'y' } })).toBe(await digestOf({ b: { d: 'y', c: 'x' }, a: 1 }));
    expect((await sent({ a: 1 }, 'DENIED')).data).not.toHaveProperty('argumentsDigest');
  });
});

/**
 * A read or a prompt carries no tool, so what it asked for (a resource's URI, a prompt's name
 * and arguments) is digested as a call's arguments are: breadth counts distinct ones per
 * server, and a sweep of records by resources/read is a sweep all the same.
 */
describe('observe: what a read or a prompt asks for', () => {
  const read = (uri: string) => recorded(requestEvent({ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri } }, null, 'SUCCESS', { grantId: 'g-1' }));
  const get = (name: string, args?: unknown) => recorded(requestEvent({ jsonrpc: '2.0', id: 1, method: 'prompts/get', params: { name, ...(args === undefined ? {} : { arguments: args }) } }, null, 'SUCCESS', { grantId: 'g-1' }));
  const digestOf = async (event: Promise<AuditEvent>) => observe(await event, noRole)!.argumentsDigest;

  it('digests a resource read by its URI: the same URI alike, another otherwise', async () => {
    const one = await digestOf(read('crm://customers/1'));
    expect(one).toMatch(/^[\w-]{16}$/);
    expect(await digestOf(read('crm://customers/1'))).toBe(one);
    expect(await digestOf(read('crm://customers/2'))).not.toBe(one);
    expect(observe(await read('crm://customers/1'), noRole)).toMatchObject({ kind: 'call', method: 'resources/read', tool: null, server: 'everything' });
  });

  it('digests a prompt by its name and arguments, in any key order', async () => {
    const one = await digestOf(get('summarize', { id: '1', style: 'short' }));
    expect(one).toMatch(/^[\w-]{16}$/);
    expect(await digestOf(get('summarize', { style: 'short', id: '1' }))).toBe(one);
    expect(await digestOf(get('summarize', { id: '2', style: 'short' }))).not.toBe(one);
    expect(await digestOf(get('explain', { id: '1', style: 'short' }))).not.toBe(one);
    expect(await digestOf(get('summarize'))).not.toBe(await digestOf(get('explain')));
  });

  it('tells apart URIs that differ only past the part the log keeps of them', async () => {
    const padded = (id: number) => `crm://customers/${'p'.repeat(600)}/${id}`;
    expect((await read(padded(1))).data.paramsTruncated).toBeDefined();
    expect(await digestOf(read(padded(1)))).toBe(await digestOf(read(padded(1))));
    expect(await digestOf(read(padded(1)))).not.toBe(await digestOf(read(padded(2))));
  });

  it('digests nothing of a request that asks for no record (a subscription, a listing)', async () => {
    const subscribed = await recorded(requestEvent({ jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'crm://customers/1' } }, null, 'SUCCESS', { grantId: 'g-1' }));
    expect(observe(subscribed, noRole)!.argumentsDigest).toBeNull();
  });
});

describe('observe: refusals', () => {
  it.each([
    ['tool_not_granted', 'not_granted'],
    ['resource_not_granted', 'not_granted'],
    ['argument_not_allowed', 'argument_not_allowed'],
    ['rate_limited', 'rate_limited'],
    ['tool_definition_changed', 'other'],
    ['unknown_prompt', 'unknown_name'],
    ['unknown_resource', 'unknown_name'],
    ['unknown_task', 'unknown_name'],
    ['unknown_reference', 'unknown_name'],
  ])('reads a request refused for %s as a %s denial', async (reason, denial) => {
    const event = await recorded({ type: 'mcp.request', outcome: 'DENIED', tool: 'delete_file', data: { method: 'tools/call', id: 7, params: { name: 'delete_file' }, reason }, bounded: ['params'] });
    expect(observe(event, noRole)).toMatchObject({ kind: 'denial', denial, tool: 'delete_file', grantId: null, role: null });
  });

  it('digests what an unknown-name refusal named, with its reason: alike for the same name by any method, apart for another (probing counts distinct ones)', async () => {
    const refused = async (reason: string, method: string, params: Record<string, unknown>) =>
      observe(await recorded({ type: 'mcp.request', outcome: 'DENIED', data: { method, id: 7, params, reason }, bounded: ['params'] }), noRole)!.argumentsDigest;
    const polled = await refused('unknown_task', 'tasks/get', { taskId: 'github:task-7' });
    expect(polled).toMatch(/^[\w-]{16}$/);
    expect(await refused('unknown_task', 'tasks/result', { taskId: 'github:task-7' })).toBe(polled);
    expect(await refused('unknown_task', 'tasks/get', { taskId: 'github:task-8' })).not.toBe(polled);
    // A tool call relating to a task of no server of the session names that task, the same at each call.
    const related = { _meta: { 'io.modelcontextprotocol/related-task': { taskId: 'github:task-7' } } };
    expect(await refused('unknown_task', 'tools/call', { name: 'echo', arguments: { n: 1 }, ...related })).toBe(polled);
    // Guessing task ids behind a related task of one's own: each guess is its own name.
    const guesses = await Promise.all(['guess-1', 'guess-2', 'guess-3'].map((taskId) => refused('unknown_task', 'tasks/get', { taskId, ...related })));
    expect(new Set(guesses).size).toBe(3);
    // A completion names its reference, whatever the client has typed so far.
    const ref = { type: 'ref/prompt', name: 'review' };
    const completed = await refused('unknown_reference', 'completion/complete', { ref, argument: { name: 'pr', value: '1' } });
    expect(await refused('unknown_reference', 'completion/complete', { ref, argument: { name: 'pr', value: '12' } })).toBe(completed);
    expect(await refused('unknown_prompt', 'prompts/get', { name: 'review' })).not.toBe(await refused('unknown_prompt', 'prompts/get', { name: 'deploy' }));
    expect(await refused('unknown_resource', 'resources/read', { uri: 'file:///a' })).not.toBe(await refused('unknown_resource', 'resources/read', { uri: 'file:///b' }));
    // URIs alike up to the log's cut count apart (the digest of the whole params it recorded).
    const long = 'file:///' + 'x'.repeat(600);
    expect(await refused('unknown_resource', 'resources/read', { uri: `${long}1` })).not.toBe(await refused('unknown_resource', 'resources/read', { uri: `${long}2` }));
    // Other refusals name nothing probing counts apart: each counts.
    expect(await refused('tool_not_granted', 'tools/call', { name: 'echo' })).toBeNull();
  });

  it('reads a refused token of a known user and a refused connection as denials', async () => {
    const token = await recorded({ type: 'oauth.token.refused', outcome: 'DENIED', server: null, sessionId: null, data: { clientId: 'pcc_1', clientName: 'Cursor', reason: 'wrong_audience' } });
    expect(observe(token, noRole)).toMatchObject({ kind: 'denial', denial: 'token_refused' });
    const upgrade = await recorded({ type: 'mcp.session.refused', outcome: 'DENIED', sessionId: null, data: { status: 403, reason: 'no_active_grant', transport: 'websocket', clientAddress: '127.0.0.1' } });
    expect(observe(upgrade, noRole)).toMatchObject({ kind: 'denial', denial: 'upgrade_refused', server: 'everything' });
  });
});

describe('observe: sessions and results', () => {
  it('reads the OAuth client a session starts with', async () => {
    const event = await recorded({ type: 'mcp.session.start', data: { grants: ['g-1'], clientAddress: '127.0.0.1', transport: 'streamable-http', oauthClient: { id: 'pcc_1', name: 'Cursor' } } });
    expect(observe(event, noRole)).toMatchObject({ kind: 'session', client: { name: 'Cursor', version: null, oauthClientId: 'pcc_1' } });
  });

  it('reads a tool result with its size', async () => {
    const event = await recorded({ type: 'mcp.response', tool: 'read_file', data: { method: 'tools/call', id: 8, bytes: 524_288, isError: false } });
    expect(observe(event, noRole)).toMatchObject({ kind: 'result', tool: 'read_file', method: 'tools/call', resultBytes: 524_288 });
  });
});

describe('observe: events that concern no user', () => {
  it('yields nothing for events without an actor, its own anomaly events, and types it does not judge', async () => {
    const events = [
      await recorded({ type: 'oauth.token.refused', outcome: 'DENIED', actor: null, data: { reason: 'invalid_token' } }),
      await recorded({ type: 'anomaly.detected', actor: null, data: { anomalyId: 'an_1' } }),
      await recorded({ type: 'anomaly.acknowledged', data: { anomalyId: 'an_1' } }),
      await recorded({ type: 'auth.login', data: { idp: 'corp' } }),
    ];
    expect(events.map((event) => observe(event, noRole))).toEqual([null, null, null, null]);
  });
});

describe('grant roles', () => {
  it('answers the role a grant was issued under, and none for a grant the store does not hold', async () => {
    const request = requestRecord('r-1', clock, { status: 'APPROVED', grantId: 'g-1', rule: 'engineer/request/0' });
    await stores.access.createRequest(request, grantRecord('g-1', request, clock));
    const roles = new GrantRoles(stores.access, 2);
    await roles.load('g-1');
    await roles.load('g-unknown');
    expect([roles.roleOf('g-1'), roles.roleOf('g-unknown')]).toEqual(['engineer', null]);
    expect(roles.has('g-1')).toBe(true);
  });
});
