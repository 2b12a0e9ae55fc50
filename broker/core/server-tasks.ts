import { isRecord } from './json.js';
import type { Leg } from './leg.js';
import type { AllowedBy } from './session-core.js';

/** A task a server runs for this session. */
export interface ServerTask {
  leg: Leg;
  taskId: string;
  /** The request that made it, and the grant decision that let it go (none: a request no grant decides). */
  madeBy?: { method: string; allowedBy: AllowedBy };
  /** Its status as last heard (its creation, status notifications, tasks/get): a finished task has nothing left to cut off. */
  status?: string;
  /** Its grant ended while it ran: the server was asked to cancel it, once. */
  cutOff?: true;
}

/** Tasks a session remembers; the oldest go first (its 10,001st task makes its first unreachable). */
const MAX_TASKS = 10_000;
const FINISHED = new Set(['completed', 'failed', 'cancelled']);

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
  created(leg: Leg, taskId: string, status: unknown): void {
    const key = keyOf(leg.server, taskId);
    if (this.tasks.has(key)) return;
    this.tasks.set(key, { leg, taskId, ...(typeof status === 'string' ? { status } : {}) });
    if (this.tasks.size > MAX_TASKS) this.tasks.delete(this.tasks.keys().next().value!);
  }

  /** The request that created the task, once its handler has the answer. */
  madeBy(leg: Leg, taskId: string, method: string, allowedBy: AllowedBy): void {
    const task = this.tasks.get(keyOf(leg.server, taskId));
    if (task?.leg === leg) task.madeBy = { method, allowedBy };
  }

  /** A task's status as a server reports it (a Task object: status notifications, tasks/get and tasks/cancel answers). */
  heard(leg: Leg, task: Record<string, unknown>): void {
    const known = typeof task.taskId === 'string' ? this.tasks.get(keyOf(leg.server, task.taskId)) : undefined;
    if (known?.leg === leg && typeof task.status === 'string') known.status = task.status;
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

  /** Tasks that may still be running (not heard to have finished), with the decision that made them. */
  *running(): IterableIterator<ServerTask & Required<Pick<ServerTask, 'madeBy'>>> {
    for (const task of this.tasks.values()) if (task.madeBy && !task.cutOff && !FINISHED.has(task.status ?? '')) yield task as ServerTask & Required<Pick<ServerTask, 'madeBy'>>;
  }
}

/** The task a server's answer created (a CreateTaskResult), if it did. */
export function createdTaskOf(result: Record<string, unknown>): { taskId: string; status: unknown } | undefined {
  return isRecord(result.task) && typeof result.task.taskId === 'string' ? { taskId: result.task.taskId, status: result.task.status } : undefined;
}

function keyOf(server: string, taskId: string): string {
  return `${server}\n${taskId}`;
}
