import type { Client } from '@modelcontextprotocol/sdk/client/index.js';

/** A refusal's data, as the broker sends it (`reason`, the `clause` that refused, a retry hint), and whatever else it carries. */
type RefusalData = { reason?: string; clause?: string; retryAfterMs?: number } & Record<string, unknown>;

/** How a tools/call ended, as tests compare it: answered, or refused with the JSON-RPC error's code, message and data. */
export type ToolCallOutcome = { ok: true } | { ok: false; code?: number; message?: string; data?: RefusalData };

/** Calls `name` (`say` with a text, any other tool with no arguments), abortable by `signal` (a client cancellation). */
export function callTool(client: Client, name: string, signal?: AbortSignal): Promise<ToolCallOutcome> {
  return client.callTool({ name, arguments: name === 'say' ? { text: 'hi' } : {} }, undefined, { signal }).then(
    () => ({ ok: true }),
    ({ code, message, data }: { code?: number; message?: string; data?: RefusalData }) => ({ ok: false, code, message, data }),
  );
}
