import { isRecord } from './json.js';
import type { Naming } from './naming.js';

/**
 * Rewrites what crosses a federated session so every name the client sees is unique
 * across servers and leads back to its own server: resource URIs inside content, task ids
 * in results and task metadata. A single-server session skips all of it (its naming is
 * the identity).
 */
const RELATED_TASK = 'io.modelcontextprotocol/related-task';

type Json = Record<string, unknown>;

/** A content block (of a tool result, a prompt message, a task payload) with its resource URI made the client's. */
function blockOut(naming: Naming, server: string, block: unknown): unknown {
  if (!isRecord(block)) return block;
  if (block.type === 'resource_link' && typeof block.uri === 'string') return { ...block, uri: naming.uriOut(server, block.uri) };
  if (block.type === 'resource' && isRecord(block.resource) && typeof block.resource.uri === 'string') {
    return { ...block, resource: { ...block.resource, uri: naming.uriOut(server, block.resource.uri) } };
  }
  return block;
}

/** A result as the client sees it: content URIs, a created task's id, related-task metadata (a single-server session's as it came). */
export function resultOut(naming: Naming, server: string, result: Json): Json {
  if (!naming.federated) return result;
  const out: Json = { ...result };
  if (Array.isArray(out.content)) out.content = out.content.map((block) => blockOut(naming, server, block));
  if (isRecord(out.task) && typeof out.task.taskId === 'string') out.task = { ...out.task, taskId: naming.out('task', server, out.task.taskId) };
  if (Array.isArray(out.messages)) out.messages = out.messages.map((m) => (isRecord(m) ? { ...m, content: blockOut(naming, server, m.content) } : m));
  if (Array.isArray(out.contents)) out.contents = out.contents.map((c) => (isRecord(c) && typeof c.uri === 'string' ? { ...c, uri: naming.uriOut(server, c.uri) } : c));
  return metaOut(naming, server, out);
}

/**
 * A server's answer to one of the session's requests created a task (a request run as a
 * task): the task is the session's own from then on (naming.ts). Recorded as the answer
 * arrives, not as it is relayed: the server's news of the task may come in the same read.
 */
export function taskCreated(naming: Naming, server: string, result: Json): void {
  if (isRecord(result.task) && typeof result.task.taskId === 'string') naming.out('task', server, result.task.taskId);
}

/** A task of this session (tasks/get, tasks/cancel, tasks/list items, status notifications) with the client's task id. */
export function taskOut(naming: Naming, server: string, task: Json): Json {
  return typeof task.taskId === 'string' ? { ...task, taskId: naming.out('task', server, task.taskId) } : task;
}

/** `_meta` naming a related task of this session: the client's id for it (another task is left as the server named it, which leads nowhere). */
export function metaOut(naming: Naming, server: string, value: Json): Json {
  const related = isRecord(value._meta) ? value._meta[RELATED_TASK] : undefined;
  if (!isRecord(related) || typeof related.taskId !== 'string' || !naming.has('task', server, related.taskId)) return value;
  return { ...value, _meta: { ...(value._meta as Json), [RELATED_TASK]: { ...related, taskId: naming.out('task', server, related.taskId) } } };
}

/** `_meta` naming a related task the client knows by its federated id: the server's own id, or null when unknown. */
export function metaIn(naming: Naming, value: Json): { value: Json; server: string | null } | null {
  const related = isRecord(value._meta) ? value._meta[RELATED_TASK] : undefined;
  if (!isRecord(related) || typeof related.taskId !== 'string') return { value, server: null };
  const target = naming.in('task', related.taskId);
  if (!target) return null;
  return { value: { ...value, _meta: { ...(value._meta as Json), [RELATED_TASK]: { ...related, taskId: target.name } } }, server: target.server };
}
