import { isRecord } from './json.js';
import type { Leg } from './leg.js';
import type { AllowedBy } from './session-core.js';

/** A task a server runs for this session, and the grant decision that let the request it runs go (none: a request no grant decides). */
export interface ServerTask {
  leg: Leg;
  taskId: string;
  allowedBy?: AllowedBy;
  /** The grant ended and the server was asked to cancel it: asked once. */
  cancelled?: true;
}

/** Tasks a session remembers; the oldest go first (its 10,001st task makes its first unreachable). */
const MAX_TASKS = 10_000;

/**
 * The tasks servers created for one session (a request run as a task, MCP 2025-11-25): only
 * these can be named, listed, asked after or reported on. A server that keeps one task
 * store for all its clients (a stateless HTTP server, one credential for every user) would
 * otherwise hand one person's tasks to another. A task also keeps the decision that let its
 * request go, so it is the grant that allowed the work that allows its result: when that
 * grant ends, the task's result is refused and the server asked to cancel it.
 */
export class ServerTasks {
  private readonly tasks = new Map<string, ServerTask>();

  /** A server's answer created a task: the session's own from then on (before news of it, which may come in the same read). */
  created(leg: Leg, taskId: string): void {
    const key = keyOf(leg.server, taskId);
    if (this.tasks.has(key)) return;
    this.tasks.set(key, { leg, taskId });
    if (this.tasks.size > MAX_TASKS) this.tasks.delete(this.tasks.keys().next().value!);
  }

  /** The grant decision of the request that created the task. */
  allowedBy(leg: Leg, taskId: string, allowed: AllowedBy): void {
    const task = this.tasks.get(keyOf(leg.server, taskId));
    if (task?.leg === leg) task.allowedBy = allowed;
  }

  get(server: string, taskId: string): ServerTask | undefined {
    return this.tasks.get(keyOf(server, taskId));
  }

  owns(server: string, taskId: string): boolean {
    return this.tasks.has(keyOf(server, taskId));
  }

  /** A server left the session: its tasks are no longer the session's to reach. */
  forget(leg: Leg): void {
    for (const [key, task] of this.tasks) if (task.leg === leg) this.tasks.delete(key);
  }

  values(): IterableIterator<ServerTask> {
    return this.tasks.values();
  }
}

/** The task a server's answer created (a CreateTaskResult), if it did. */
export function createdTaskOf(result: Record<string, unknown>): string | undefined {
  return isRecord(result.task) && typeof result.task.taskId === 'string' ? result.task.taskId : undefined;
}

function keyOf(server: string, taskId: string): string {
  return `${server}\n${taskId}`;
}
