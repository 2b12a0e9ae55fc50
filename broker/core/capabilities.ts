/**
 * The capabilities a federated session offers: a capability only where some granted server
 * has it (a client must not be promised resources no server serves), list changes always
 * (servers leave the session when their grants end).
 */
import { isRecord } from './json.js';

type Capabilities = Record<string, unknown>;

export function mergeCapabilities(all: readonly Capabilities[]): Capabilities {
  const has = (name: string) => all.some((c) => c[name] !== undefined && c[name] !== null);
  const any = (name: string, field: string) => all.some((c) => isRecord(c[name]) && (c[name] as Capabilities)[field] !== undefined && (c[name] as Capabilities)[field] !== false);
  const merged: Capabilities = {};
  if (has('tools')) merged.tools = { listChanged: true };
  if (has('prompts')) merged.prompts = { listChanged: true };
  if (has('resources')) merged.resources = { listChanged: true, ...(any('resources', 'subscribe') ? { subscribe: true } : {}) };
  if (has('logging')) merged.logging = {};
  if (has('completions')) merged.completions = {};
  if (has('tasks')) {
    const tasks: Capabilities = {};
    if (any('tasks', 'list')) tasks.list = {};
    if (any('tasks', 'cancel')) tasks.cancel = {};
    if (all.some((c) => isRecord(c.tasks) && isRecord(c.tasks.requests) && isRecord(c.tasks.requests.tools) && c.tasks.requests.tools.call !== undefined)) tasks.requests = { tools: { call: {} } };
    merged.tasks = tasks;
  }
  return merged;
}

/**
 * The client's initialize params as each server of a federated session is told them:
 * without `capabilities.sampling.context`. A client that can include context in sampling
 * adds what it knows of the session (the whole federation) to a server's prompt, and the
 * completion goes back to that server: one server would read what the others sent the
 * client. The servers are not told the client can (MCP 2025-11-25, sampling: servers use
 * includeContext other than "none" only when the client declares it), and the requests
 * that ask anyway are rewritten (federation-map.ts askOut).
 */
export function initializeParamsForServers(params: unknown): unknown {
  const capabilities = isRecord(params) ? params.capabilities : undefined;
  const sampling = isRecord(capabilities) ? capabilities.sampling : undefined;
  if (!isRecord(sampling) || !('context' in sampling)) return params;
  const { context: _context, ...rest } = sampling;
  return { ...(params as Capabilities), capabilities: { ...(capabilities as Capabilities), sampling: rest } };
}
