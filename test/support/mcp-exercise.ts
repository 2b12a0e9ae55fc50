import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js';

/**
 * One script that uses every MCP feature the reference server has, through the official
 * SDK client, and returns what it saw in a form that does not depend on where the server
 * sits: run directly against the reference server and through each broker endpoint, the
 * transcripts must be equal. Names the broker changes (federated tools, prompts, URIs) are
 * given by `names` and undone in the transcript.
 */
export interface Names {
  tool(name: string): string;
  prompt(name: string): string;
  uri(uri: string): string;
  /** A URI the client was given, as the server knows it (throws if it is not one of this server's). */
  serverUri(uri: string): string;
}

export const AS_IS: Names = { tool: (n) => n, prompt: (n) => n, uri: (u) => u, serverUri: (u) => u };

/** How a federated session names the server `server`'s things (broker/core/naming.ts). */
export function federatedNames(server: string): Names {
  const prefix = `portcullis://${server}/`;
  return {
    tool: (n) => `${server}__${n}`,
    prompt: (n) => `${server}__${n}`,
    uri: (u) => `${prefix}${u}`,
    serverUri: (u) => {
      if (!u.startsWith(prefix)) throw new Error(`${u} is not a URI of ${server}`);
      return u.slice(prefix.length);
    },
  };
}

/** A client with every capability the reference server can use, and canned answers for it. */
export function parityClient(): { client: Client; roots: { uri: string; name: string }[] } {
  const client = new Client({ name: 'parity', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: { form: {} }, roots: { listChanged: true } } });
  const roots = [{ uri: 'file:///srv/first', name: 'first' }];
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    const last = request.params.messages.at(-1)?.content;
    const text = last && 'text' in last ? String(last.text) : '';
    return { model: 'parity-model', role: 'assistant', content: { type: 'text', text: `sampled: ${text}` } };
  });
  client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
  client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots }));
  return { client, roots };
}

type Json = Record<string, unknown>;

/** Strips what differs from run to run (times, ids the server makes up). */
function stable<T>(value: T): T {
  const text = JSON.stringify(value)
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?/g, '<time>')
    .replace(/\d{1,2}:\d{2}:\d{2}\s?[AP]M/g, '<time>')
    .replace(/"taskId":"[^"]+"/g, '"taskId":"<id>"');
  return JSON.parse(text) as T;
}

function poll<T>(read: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = () => {
      const value = read();
      if (value !== undefined) return resolve(value);
      if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 25);
    };
    tick();
  });
}

export async function exercise(transport: Transport, names: Names): Promise<Json> {
  const { client, roots } = parityClient();
  const logs: Json[] = [];
  const updates: string[] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params as Json));
  client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(names.serverUri(n.params.uri)));
  await client.connect(transport);
  const t: Json = {};
  const call = (name: string, args: Json = {}) => client.callTool({ name: names.tool(name), arguments: args });
  /** Content with the URIs the server gave, wherever the client received them. */
  const content = (result: Json) =>
    (result.content as Json[]).map((block) => {
      if (block.type === 'resource_link') return { ...block, uri: names.serverUri(block.uri as string) };
      if (block.type === 'resource') return { ...block, resource: { ...(block.resource as Json), uri: names.serverUri((block.resource as Json).uri as string) } };
      return block;
    });

  try {
    t.server = { capabilities: Object.keys(client.getServerCapabilities() ?? {}).sort() };
    // Tools, structured content, images, annotations, links and embedded resources.
    const listed = await client.listTools();
    t.tools = listed.tools.filter((tool) => tool.name.startsWith(names.tool(''))).map((tool) => ({ ...tool, name: tool.name.slice(names.tool('').length) })).sort((a, b) => a.name.localeCompare(b.name));
    t.echo = await call('echo', { message: 'hello through the broker' });
    t.sum = await call('get-sum', { a: 2, b: 40 });
    t.structured = await call('get-structured-content', { location: 'New York' });
    t.annotated = await call('get-annotated-message', { messageType: 'success', includeImage: true });
    t.image = await call('get-tiny-image');
    t.links = content(await call('get-resource-links', { count: 3 }));
    t.reference = content(await call('get-resource-reference', { resourceType: 'Text', resourceId: 2 }));

    // Progress: the server reports each step under the client's own token.
    const progress: Json[] = [];
    t.longRunning = await client.callTool({ name: names.tool('trigger-long-running-operation'), arguments: { duration: 1, steps: 3 } }, undefined, { onprogress: (p) => void progress.push(p as Json) });
    // The SDK client may drop the last step when it reads the answer in the same turn
    // (directly too): the steps that arrive must be in order, under the right total.
    t.progress = { steps: progress.length >= 2, totals: [...new Set(progress.map((p) => p.total))], ordered: progress.every((p, i) => i === 0 || (p.progress as number) > (progress[i - 1]!.progress as number)) };

    // Cancellation: the call ends on the client's say, and the next call goes through.
    const aborted = new AbortController();
    const cancelled = client.callTool({ name: names.tool('trigger-long-running-operation'), arguments: { duration: 5, steps: 5 } }, undefined, { signal: aborted.signal }).then(
      () => 'completed',
      (error: Error) => error.name,
    );
    setTimeout(() => aborted.abort(), 100);
    t.cancelled = await cancelled;
    t.afterCancel = await call('echo', { message: 'after cancel' });

    // Server-to-client requests: sampling, elicitation, roots (and a change of roots).
    t.sampling = await call('trigger-sampling-request', { prompt: 'say hi', maxTokens: 10 });
    t.elicitation = await call('trigger-elicitation-request');
    t.rootsFirst = await call('get-roots-list');
    roots.push({ uri: 'file:///srv/second', name: 'second' });
    await client.sendRootsListChanged();
    t.rootsAfterChange = await pollAsync(async () => {
      const result = await call('get-roots-list');
      return JSON.stringify(result).includes('file:///srv/second') ? result : undefined;
    }, 'the new roots');

    // Logging: the level reaches the server, its messages reach the client.
    await client.setLoggingLevel('debug');
    await call('toggle-simulated-logging');
    await poll(() => (logs.length > 0 ? true : undefined), 'a log message');
    await call('toggle-simulated-logging');
    t.logged = { levels: logs.length > 0, data: typeof logs[0]?.data };

    // Resources, templates, reads, subscriptions and their updates.
    const resources = await client.listResources();
    const mine = resources.resources.filter((r) => r.uri.startsWith(names.uri('')));
    t.resources = mine.map((r) => ({ ...r, uri: names.serverUri(r.uri) })).sort((a, b) => a.uri.localeCompare(b.uri));
    const templates = await client.listResourceTemplates();
    t.templates = templates.resourceTemplates.filter((r) => r.uriTemplate.startsWith(names.uri(''))).map((r) => ({ ...r, uriTemplate: names.serverUri(r.uriTemplate) })).sort((a, b) => a.uriTemplate.localeCompare(b.uriTemplate));
    const staticUri = mine[0]!.uri;
    t.readStatic = (await client.readResource({ uri: staticUri })).contents.map((c) => ({ ...c, uri: names.serverUri(c.uri) }));
    const dynamic = names.uri('demo://resource/dynamic/text/1');
    t.readDynamic = (await client.readResource({ uri: dynamic })).contents.map((c) => ({ ...c, uri: names.serverUri(c.uri) }));
    await client.subscribeResource({ uri: dynamic });
    await call('toggle-subscriber-updates');
    t.updated = await poll(() => updates.find((u) => u === 'demo://resource/dynamic/text/1'), 'a resource update');
    await call('toggle-subscriber-updates');
    await client.unsubscribeResource({ uri: dynamic });

    // Prompts, with arguments, with an embedded resource, and completion.
    const prompts = await client.listPrompts();
    t.prompts = prompts.prompts.filter((p) => p.name.startsWith(names.prompt(''))).map((p) => ({ ...p, name: p.name.slice(names.prompt('').length) })).sort((a, b) => a.name.localeCompare(b.name));
    t.simplePrompt = await client.getPrompt({ name: names.prompt('simple-prompt') });
    t.argsPrompt = await client.getPrompt({ name: names.prompt('args-prompt'), arguments: { city: 'Lisbon' } });
    const resourcePrompt = await client.getPrompt({ name: names.prompt('resource-prompt'), arguments: { resourceType: 'Text', resourceId: '3' } });
    t.resourcePrompt = resourcePrompt.messages.map((m) => (m.content.type === 'resource' ? { ...m, content: { ...m.content, resource: { ...m.content.resource, uri: names.serverUri(m.content.resource.uri) } } } : m));
    t.completePrompt = await client.complete({ ref: { type: 'ref/prompt', name: names.prompt('completable-prompt') }, argument: { name: 'department', value: 'E' } });
    t.completeResource = await client.complete({ ref: { type: 'ref/resource', uri: names.uri('demo://resource/dynamic/text/{resourceId}') }, argument: { name: 'resourceId', value: '1' } });

    // Tasks: a tool run as a task, its status, and its result.
    const kinds: string[] = [];
    let taskResult: unknown;
    for await (const message of client.experimental.tasks.callToolStream({ name: names.tool('simulate-research-query'), arguments: { topic: 'broker parity' } }, undefined, { task: { ttl: 60_000 } })) {
      if (kinds.at(-1) !== message.type) kinds.push(message.type);
      if (message.type === 'result') taskResult = message.result;
      if (message.type === 'error') taskResult = { error: String(message.error) };
    }
    t.task = { kinds, result: taskResult };
    return stable(t);
  } finally {
    await client.close();
  }
}

async function pollAsync<T>(read: () => Promise<T | undefined>, what: string, timeoutMs = 15_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
