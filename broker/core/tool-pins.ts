import type { JsonRpcError, JsonRpcRequest } from '../jsonrpc.js';
import type { Leg, LegAnswer } from './leg.js';
import type { Call, SessionCore } from './session-core.js';

/** Pages of a server's tools a session reads (to resolve a name, or to see a tool it is asked to call) before it gives up. */
export const MAX_LIST_PAGES = 20;

/** How long a call to a tool not listed yet waits for the client's initialized to reach its server. */
const INITIALIZED_WAIT_MS = 2_000;

function settledWithin(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * A page of a server's tools as the session may show it: checked against the pins
 * (broker/tool-pinning.ts), each tool's hash recorded on the leg as what its client was shown.
 */
export function screenTools(core: SessionCore, leg: Leg, tools: unknown[]): Promise<unknown[]> | unknown[] {
  const { pinning } = core.deps;
  if (!pinning) return tools;
  return pinning.screen(leg.server, tools, leg.toolHashes, { actor: core.principal.user.email, sessionId: core.id });
}

/**
 * A page of a server's tools the broker reads for itself (to resolve a federated name, or
 * before a call to a tool the session never listed), taken as a listing its client is
 * shown: noted on the leg (read-only or not) and checked against the pins.
 */
export function readTools(core: SessionCore, leg: Leg, tools: unknown[], page: { first: boolean; last: boolean }): Promise<unknown[]> | unknown[] {
  leg.noteShown(tools, page);
  return screenTools(core, leg, tools);
}

/**
 * Reads every page of a server's `method` listing (bounded), handing each answer's items to
 * `page`; stops at the first answer that is not a result.
 */
export async function readListing(
  core: SessionCore,
  call: Call,
  leg: Leg,
  method: string,
  key: string,
  page: (items: unknown[], at: { first: boolean; last: boolean }) => unknown,
): Promise<void> {
  let cursor: string | undefined;
  for (let n = 0; n < MAX_LIST_PAGES; n++) {
    const answer: LegAnswer = await core.ask(call, leg, method, cursor === undefined ? {} : { cursor });
    if (answer.kind !== 'result') return;
    await page(Array.isArray(answer.result[key]) ? (answer.result[key] as unknown[]) : [], { first: n === 0, last: typeof answer.result.nextCursor !== 'string' });
    if (typeof answer.result.nextCursor !== 'string') return;
    cursor = answer.result.nextCursor;
  }
}

/** Reads the server's tools (readTools) for a call to a tool the session never listed: the call is judged on what it lists now. */
export async function listBeforeCall(core: SessionCore, call: Call, leg: Leg): Promise<void> {
  // A server may add tools once it hears the client's initialized (the reference server
  // adds its sampling tool then), which may still be on its way when the call comes.
  await settledWithin(leg.initialized, INITIALIZED_WAIT_MS);
  await readListing(core, call, leg, 'tools/list', 'tools', (items, at) => readTools(core, leg, items, at));
}

/**
 * In pin mode, the refusal of a call to a tool whose definition (as this session's client
 * was last shown it) is not the pinned one; null when the call may go. The check is the
 * definition the client was shown, because that is what its model read and acted on: a
 * server that changes a tool without the client listing again changes nothing the model
 * saw, and a listing that shows the change hides the tool.
 *
 * A call to a tool this session never listed (a client that skips tools/list, or calls a
 * name it learned from an earlier session) would otherwise pass unchecked, so the server's
 * listing is read first and the call is judged on what it lists now. A tool the server does
 * not list at all goes to the server, which answers it as the unknown tool it is: no model
 * was shown a definition of it that could have changed, and refusing it here would change
 * a conforming server's answer (the MCP conformance suite calls tools it never listed).
 */
export async function pinRefusal(core: SessionCore, call: Call, request: JsonRpcRequest, leg: Leg, tool: string, shown: string): Promise<JsonRpcError | null> {
  const { pinning } = core.deps;
  if (!pinning || pinning.mode(leg.server) !== 'pin') return null;
  if (!leg.toolHashes.has(tool)) await listBeforeCall(core, call, leg);
  let hash = leg.toolHashes.get(tool);
  if (hash !== undefined && !pinning.allows(leg.server, tool, hash)) {
    // Listed by another request of the session whose check of the pin has not answered yet:
    // judged once it has, on what the session holds then (a newer listing may have changed it).
    await pinning.checked(leg.server, tool, hash);
    hash = leg.toolHashes.get(tool);
  }
  if (hash === undefined || pinning.allows(leg.server, tool, hash)) return null;
  const detail = `tool ${JSON.stringify(shown.slice(0, 256))} changed its definition since it was pinned, and waits for a reviewer to accept the change`;
  return core.refuse(request, 'tool_definition_changed', detail, { server: leg.server, tool, why: { clause: 'definition_changed', hash }, data: { tool: shown, clause: 'definition_changed' } });
}
