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
 * Reads a server's whole tool listing for the broker (to resolve a federated name, or before
 * a call to a tool the session never listed): each page checked against the pins, as a
 * listing shown to the client is, and handed to `page`; once read, what it says of each
 * tool noted on the leg (Leg.noteListing; `unlisted`: the tool a call names).
 */
export async function readToolListing(core: SessionCore, call: Call, leg: Leg, page?: (items: unknown[]) => void, unlisted?: string): Promise<void> {
  const listing = new Map<string, boolean>();
  const complete = await readListing(core, call, leg, 'tools/list', 'tools', async (items) => {
    leg.mergePage(listing, items);
    await screenTools(core, leg, items);
    page?.(items);
  });
  leg.noteListing(listing, complete, unlisted);
}

/**
 * Reads every page of a server's `method` listing (bounded), handing each answer's items to
 * `page`; stops at the first answer that is not a result.
 */
export async function readListing(core: SessionCore, call: Call, leg: Leg, method: string, key: string, page: (items: unknown[]) => unknown): Promise<boolean> {
  let cursor: string | undefined;
  for (let n = 0; n < MAX_LIST_PAGES; n++) {
    const answer: LegAnswer = await core.ask(call, leg, method, cursor === undefined ? {} : { cursor });
    if (answer.kind !== 'result') return false;
    await page(Array.isArray(answer.result[key]) ? (answer.result[key] as unknown[]) : []);
    if (typeof answer.result.nextCursor !== 'string') return true;
    cursor = answer.result.nextCursor;
  }
  return false;
}

/** Reads the server's tools (readToolListing) for a call to `tool`, which the session never listed: the call is judged on what it lists now. */
export async function listBeforeCall(core: SessionCore, call: Call, leg: Leg, tool: string): Promise<void> {
  // A server may add tools once it hears the client's initialized (the reference server
  // adds its sampling tool then), which may still be on its way when the call comes.
  await settledWithin(leg.initialized, INITIALIZED_WAIT_MS);
  await readToolListing(core, call, leg, undefined, tool);
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
  if (!leg.toolHashes.has(tool)) await listBeforeCall(core, call, leg, tool);
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
