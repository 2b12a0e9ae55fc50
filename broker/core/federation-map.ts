import { isRecord } from './json.js';
import type { Leg } from './leg.js';
import type { Naming } from './naming.js';
import type { ServerTasks } from './server-tasks.js';

/**
 * Rewrites what crosses a federated session so every name the client sees is unique
 * across servers and leads back to its own server: resource URIs inside content, task ids
 * in results and task metadata. A single-server session skips all of it (its naming is
 * the identity) but one thing: related-task metadata naming a task that is not the
 * session's is left out in either kind (server-tasks.ts).
 */
const RELATED_TASK = 'io.modelcontextprotocol/related-task';

type Json = Record<string, unknown>;

/** What of a session names what its client sees: its naming, and its tasks either way round (servers run for it; the client runs for a server, by the client's id). */
export interface SessionNames {
  readonly naming: Naming;
  readonly serverTasks: ServerTasks;
  readonly clientTasks: ReadonlyMap<string, Leg>;
}

/** A content block (of a tool result, a prompt message, a task payload) with its resource URI made the client's. */
function blockOut(naming: Naming, server: string, block: unknown): unknown {
  if (!isRecord(block)) return block;
  if (block.type === 'resource_link' && typeof block.uri === 'string') return { ...block, uri: naming.uriOut(server, block.uri) };
  if (block.type === 'resource' && isRecord(block.resource) && typeof block.resource.uri === 'string') {
    return { ...block, resource: { ...block.resource, uri: naming.uriOut(server, block.resource.uri) } };
  }
  return block;
}

/** A result as the client sees it: content URIs, a created task's id, related-task metadata (a single-server session's as it came, but for that). */
export function resultOut(session: SessionNames, server: string, result: Json): Json {
  const { naming } = session;
  if (!naming.federated) return metaOut(session, server, result);
  const out: Json = { ...result };
  if (Array.isArray(out.content)) out.content = out.content.map((block) => blockOut(naming, server, block));
  if (isRecord(out.task) && typeof out.task.taskId === 'string') out.task = { ...out.task, taskId: naming.out('task', server, out.task.taskId) };
  if (Array.isArray(out.messages)) out.messages = out.messages.map((m) => (isRecord(m) ? { ...m, content: blockOut(naming, server, m.content) } : m));
  if (Array.isArray(out.contents)) out.contents = out.contents.map((c) => (isRecord(c) && typeof c.uri === 'string' ? { ...c, uri: naming.uriOut(server, c.uri) } : c));
  return metaOut(session, server, out);
}

/** A task of this session (tasks/get, tasks/cancel, tasks/list items, status notifications) with the client's task id. */
export function taskOut(naming: Naming, server: string, task: Json): Json {
  return typeof task.taskId === 'string' ? { ...task, taskId: naming.out('task', server, task.taskId) } : task;
}

/**
 * `_meta` naming a related task of this session: the client's id for it (a task the client
 * runs for this server already has the client's id). Naming another task (a server whose
 * store all its clients share may) it is left out: that id would name someone else's work,
 * and with such a server, reach it.
 */
export function metaOut(session: SessionNames, server: string, value: Json): Json {
  const taskId = relatedTaskOf(value);
  if (taskId === undefined) return value;
  const meta: Json = { ...(value._meta as Json) };
  if (session.serverTasks.owns(server, taskId)) {
    if (!session.naming.federated) return value;
    meta[RELATED_TASK] = { ...(meta[RELATED_TASK] as Json), taskId: session.naming.out('task', server, taskId) };
  } else if (session.clientTasks.get(taskId)?.server === server) return value;
  else delete meta[RELATED_TASK];
  return { ...value, _meta: meta };
}

/** The task a message's `_meta` says it relates to (MCP 2025-11-25 tasks), if any. */
export function relatedTaskOf(value: unknown): string | undefined {
  const related = isRecord(value) && isRecord(value._meta) ? value._meta[RELATED_TASK] : undefined;
  return isRecord(related) && typeof related.taskId === 'string' ? related.taskId : undefined;
}

/** `_meta` naming a related task the client knows by its federated id: the server's own id, or null when unknown. */
export function metaIn(naming: Naming, value: Json): { value: Json; server: string | null } | null {
  const taskId = relatedTaskOf(value);
  if (taskId === undefined) return { value, server: null };
  const target = naming.in('task', taskId);
  if (!target) return null;
  const meta = value._meta as Json;
  return { value: { ...value, _meta: { ...meta, [RELATED_TASK]: { ...(meta[RELATED_TASK] as Json), taskId: target.name } } }, server: target.server };
}

/**
 * A server's request of the client as a federated session relays it. Sampling asks for
 * no context: what a client includes is what it knows of the whole session, other
 * servers' data among it, and the completion goes back to the server that asked (the
 * client is not said to support it either: capabilities.ts). An elicitation says which
 * server asks, so the person answering knows who is asking and no server passes for another.
 */
export function askOut(server: string, method: string, params: Json): Json {
  if (method === 'sampling/createMessage' && params.includeContext !== undefined && params.includeContext !== 'none') return { ...params, includeContext: 'none' };
  if (method === 'elicitation/create' && typeof params.message === 'string') return { ...params, message: `[${server}] ${params.message}` };
  return params;
}

/** The id of a URL-mode elicitation a request asks for (MCP 2025-11-25), if it is one. */
export function urlElicitationOf(method: string, params: unknown): string | undefined {
  return method === 'elicitation/create' && isRecord(params) && params.mode === 'url' && typeof params.elicitationId === 'string' ? params.elicitationId : undefined;
}
