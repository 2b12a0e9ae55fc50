import { requestEvent, toolOf } from '../request-audit.js';
import { LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { INTERNAL_ERROR } from '../jsonrpc.js';
import { NO_CALL_LIMITS } from './call-limits.js';
import type { JsonRpcRequest } from '../jsonrpc.js';
import { initializeParamsForServers, mergeCapabilities } from './capabilities.js';
import { isRecord } from './json.js';
import type { Positions } from './federated-cursor.js';
import { metaIn, resultOut, taskOut } from './federation-map.js';
import { refuseByGrant } from './grant-refusal.js';
import { listBeforeCall, pinRefusal, readListing, readToolListing, screenTools } from './tool-pins.js';
import { callRequestAccess, REQUEST_ACCESS_DEFINITION, REQUEST_ACCESS_TOOL } from './request-access-tool.js';
import type { Leg, LegAnswer, LegInit } from './leg.js';
import type { Kind, Target } from './naming.js';
import { createdTaskOf } from './server-tasks.js';
import type { ServerTask, ServerTasks } from './server-tasks.js';
import type { Decision, Subject } from '../../server/access/grant-decision.js';
import type { Call, SessionCore } from './session-core.js';

type Json = Record<string, unknown>;

const INVALID_PARAMS = -32602;
const METHOD_NOT_FOUND = -32601;
/** How long a server may take to answer initialize before it is left out of the session. */
const INITIALIZE_TIMEOUT_MS = 30_000;

/** The listings, what each returns its items under, and the capability a server needs to serve it. */
const LISTINGS: Record<string, { key: string; capability: string }> = {
  'tools/list': { key: 'tools', capability: 'tools' },
  'prompts/list': { key: 'prompts', capability: 'prompts' },
  'resources/list': { key: 'resources', capability: 'resources' },
  'resources/templates/list': { key: 'resourceTemplates', capability: 'resources' },
  'tasks/list': { key: 'tasks', capability: 'tasks' },
};

/**
 * What the session does with each client request: where it goes (one server, every server,
 * or answered here), what it may touch, and how names come back. Every MCP method has its
 * rule here: calls, reads and gets are checked against the grants, listings filtered to
 * them, session housekeeping (ping, initialize, log level, tasks) allowed with any grant,
 * and any other method refused unless the operator allows it on the server. Every request
 * is audited before it leaves (`mcp.request`); a refused one is audited as refused.
 */
export async function handleClientRequest(core: SessionCore, request: JsonRpcRequest, call: Call): Promise<void> {
  // Whatever the method: with a server whose task store all its clients share, a task's id reaches that task.
  if (core.namesForeignTask(request.params)) return core.reply(call, await unknownTask(core, request));
  // MCP lets a client run only tools/call as a task, and a receiver ignores the task member of
  // another request it knows: so does the broker, for the server too. Run as a task, a read's or
  // a listing's result, fetched later by tasks/result, would pass by the filter its answer goes through.
  if (request.method !== 'tools/call' && isRecord(request.params) && Object.hasOwn(request.params, 'task') && routedHere(request.method)) {
    const { task: _ignored, ...params } = request.params;
    request = { ...request, params };
  }
  switch (request.method) {
    case 'ping':
      return core.reply(call, { jsonrpc: '2.0', id: request.id, result: {} });
    case 'initialize':
      return initialize(core, request, call);
    case 'tools/call':
      return callTool(core, request, call);
    case 'prompts/get':
      return toNamed(core, request, call, 'prompt', 'name');
    case 'resources/read':
    case 'resources/subscribe':
    case 'resources/unsubscribe':
      return toResource(core, request, call);
    case 'completion/complete':
      return complete(core, request, call);
    case 'logging/setLevel':
      if (core.naming.federated) return setLevel(core, request, call);
      await forward(core, request, call, soleLeg(core), {});
      return;
    case 'tasks/get':
    case 'tasks/result':
    case 'tasks/cancel':
      return toNamed(core, request, call, 'task', 'taskId');
    default:
      // Own keys only: a method named `toString` or `__proto__` is no listing.
      if (Object.hasOwn(LISTINGS, request.method)) return list(core, request, call);
      return other(core, request, call);
  }
}

/** The MCP methods handleClientRequest routes by their own rules (the rest go to `other`, as the operator allows them). */
const ROUTED: ReadonlySet<string> = new Set(['ping', 'initialize', 'prompts/get', 'resources/read', 'resources/subscribe', 'resources/unsubscribe', 'completion/complete', 'logging/setLevel', 'tasks/get', 'tasks/result', 'tasks/cancel']);

function routedHere(method: string): boolean {
  return ROUTED.has(method) || Object.hasOwn(LISTINGS, method);
}

/**
 * initialize goes to every server with the client's own parameters (its capabilities
 * decide which tools a server offers) and is answered once every server has answered. A
 * single-server session answers with that server's result; a federated one with the
 * capabilities some server has, and a version it speaks itself.
 */
async function initialize(core: SessionCore, request: JsonRpcRequest, call: Call): Promise<void> {
  const params = isRecord(request.params) ? request.params : {};
  core.clientInfo = params.clientInfo ?? null;
  if (!(await core.audited(call, requestEvent(request, null, 'SUCCESS')))) return;
  // What each server is told of the client (capabilities.ts); a single-server session tells it all.
  const told = core.naming.federated ? initializeParamsForServers(request.params) : request.params;
  // From here a server that joins the session (a grant issued meanwhile) is initialized as it joins; these are the others.
  core.initializeParams = told;
  const legs = [...core.legs.values()];
  const settled = await Promise.all(
    legs.map((leg) => {
      const answer = withTimeout(core.ask(call, leg, 'initialize', told), leg);
      leg.init = answer.then((a) => (a.kind === 'result' ? { result: a.result, capabilities: isRecord(a.result.capabilities) ? a.result.capabilities : {} } : null));
      return answer;
    }),
  );
  if (!core.naming.federated) {
    const [answer] = settled;
    if (answer!.kind === 'gone') core.dropLeg(legs[0]!, { code: INTERNAL_ERROR, reason: 'upstream_failed', detail: answer!.detail });
    return core.reply(call, core.answerOf(request.id, answer!));
  }
  const answered: { leg: Leg; init: LegInit }[] = [];
  settled.forEach((answer, i) => {
    const leg = legs[i]!;
    if (answer.kind === 'result') answered.push({ leg, init: { result: answer.result, capabilities: isRecord(answer.result.capabilities) ? answer.result.capabilities : {} } });
    // A server that cannot start its session leaves it; the others go on.
    else core.dropLeg(leg, { code: INTERNAL_ERROR, reason: 'upstream_failed', detail: answer.kind === 'error' ? `${leg.server} refused initialize: ${answer.error.message}` : `${leg.server} did not initialize` });
  });
  // A session with the broker tool starts without servers (no grant yet), and lives on it alone.
  if (answered.length === 0 && legs.length > 0) return core.reply(call, core.answerOf(request.id, settled.find((a) => a.kind !== 'result') ?? settled[0]!));
  const brokerTool = core.deps.requestAccess ? [{ tools: {}, prompts: {}, resources: {} }] : [];
  const asked = typeof params.protocolVersion === 'string' ? params.protocolVersion : LATEST_PROTOCOL_VERSION;
  const instructions = [
    `Servers behind this Portcullis session: ${answered.map(({ leg }) => leg.server).join(', ')}. Tools and prompts are named <server>__<name>; resource URIs are portcullis://<server>/<the server's URI>.`,
    ...answered.flatMap(({ leg, init }) => (typeof init.result.instructions === 'string' ? [`${leg.server}: ${init.result.instructions}`] : [])),
  ].join('\n\n');
  core.reply(call, {
    jsonrpc: '2.0',
    id: request.id,
    result: {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(asked) ? asked : LATEST_PROTOCOL_VERSION,
      capabilities: mergeCapabilities([...answered.map(({ init }) => init.capabilities), ...brokerTool]),
      serverInfo: { name: 'portcullis-federation', version: core.deps.version },
      instructions,
    },
  });
}

/** A server that never answers initialize must not hold the session (initialize cannot be cancelled). */
function withTimeout(answer: Promise<LegAnswer>, leg: Leg): Promise<LegAnswer> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<LegAnswer>((resolve) => {
    timer = setTimeout(() => resolve({ kind: 'gone', code: INTERNAL_ERROR, reason: 'upstream_failed', detail: `${leg.server} did not answer initialize within ${INITIALIZE_TIMEOUT_MS / 1000} s` }), INITIALIZE_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([answer, late]).finally(() => clearTimeout(timer));
}

/** A tool call: to the server the name leads to, only for a tool its grants cover (or the broker's own tool). */
async function callTool(core: SessionCore, request: JsonRpcRequest, call: Call): Promise<void> {
  const name = toolOf(request);
  if (name === REQUEST_ACCESS_TOOL && core.deps.requestAccess) return callRequestAccess(core, request, call, core.deps.requestAccess);
  const target = name === null ? null : (core.naming.in('tool', name) ?? (await resolve(core, call, 'tool', name)));
  const leg = target && core.legs.get(target.server);
  if (!target || !leg) {
    const hint = core.naming.federated ? ' (list tools first)' : '';
    const refused = { allowed: false, reason: 'tool_not_granted', clause: 'not_in_grant', grantId: null, rule: null, pattern: null } as const;
    return core.reply(call, await refuseByGrant(core, request, refused, name ?? '', { server: target?.server ?? null, kind: 'tool', tool: name, hint }));
  }
  // A call without arguments is checked as one with none: a rule requiring an argument refuses it.
  const subject = (writable: boolean | undefined) => ({ kind: 'tool', name: target.name, arguments: (request.params as Json).arguments ?? {}, writable }) as const;
  if (leg.shownWritable(target.name) === undefined && leg.grants.someReadOnly() && leg.grants.allows(subject(false))) {
    // A read-only grant covers a tool only while the definition the session was shown says read-only: for one not
    // known so, that a grant could allow, the listing is read first (also when another grant allows it: it may end
    // while the call runs, handing the call to the read-only one).
    await listBeforeCall(core, call, leg, target.name);
  }
  const decision = allowedOrNot(call, leg, subject(leg.shownWritable(target.name)));
  if (!decision.allowed) return core.reply(call, await refuseByGrant(core, request, decision, name!, { server: leg.server, kind: 'tool', tool: target.name }));
  const changed = await pinRefusal(core, call, request, leg, target.name, name!);
  if (changed) return core.reply(call, changed);
  call.span?.setAttributes({ 'gen_ai.tool.name': target.name, 'portcullis.server': leg.server });
  const forwarded = mapParamsIn(core, request, leg, { name: target.name });
  if (forwarded === null) return core.reply(call, await unknownTask(core, request));
  const pending = (core.deps.limits ?? NO_CALL_LIMITS).admit({ userId: core.principal.user.id, server: leg.server, tool: target.name });
  const admitted = pending instanceof Promise ? await pending : pending;
  if ('refused' in admitted) return core.reply(call, await core.refuseOverLimit(request, admitted.refused, { server: leg.server, tool: target.name }));
  try {
    const event = { ...requestEvent(request, target.name, 'SUCCESS', { grantId: decision.grantId, ...(core.naming.federated ? { federatedName: name } : {}) }), server: leg.server };
    if (!(await core.audited(call, event))) return;
    const answer = await core.ask(call, leg, 'tools/call', forwarded);
    madeTask(core, call, leg, answer);
    core.reply(call, core.answerOf(request.id, answer, asClientSees(core, leg)));
    // Run as a task, the call is answered with the task's creation, not its result: that is measured when fetched (recordTaskResult).
    if (answer.kind !== 'result' || createdTaskOf(answer.result) === undefined) core.recordResult(request, leg.server, target.name, answer);
  } finally {
    admitted.release();
  }
}

/** The grants' decision on a call's subject; an allowing one goes with the call, to be checked again as it is sent (SessionCore.ask). */
function allowedOrNot(call: Call, leg: Leg, subject: Subject): Decision {
  const decision = leg.grants.decide(subject);
  if (decision.allowed) call.allowedBy = { leg, subject, grantId: decision.grantId, mark: leg.grants.mark() };
  return decision;
}

/** Requests about one prompt or task, routed by the name the client knows it by. */
async function toNamed(core: SessionCore, request: JsonRpcRequest, call: Call, kind: 'prompt' | 'task', field: string): Promise<void> {
  const params = isRecord(request.params) ? request.params : {};
  const name = params[field];
  const target = typeof name === 'string' ? await resolve(core, call, kind, name) : null;
  const leg = target && core.legs.get(target.server);
  // A task is reached only when a server created it for this session (server-tasks.ts).
  const task = kind === 'task' && target ? core.serverTasks.get(target.server, target.name) : undefined;
  if (!target || !leg || (kind === 'task' && task?.leg !== leg)) {
    return core.reply(call, await core.refuse(request, `unknown_${kind}`, `unknown ${kind} ${JSON.stringify(String(name ?? '').slice(0, 128))}`, { code: INVALID_PARAMS }));
  }
  if (kind === 'prompt') {
    const decision = allowedOrNot(call, leg, { kind: 'prompt', name: target.name });
    if (!decision.allowed) return core.reply(call, await refuseByGrant(core, request, decision, name as string, { server: leg.server, kind: 'prompt' }));
    await forward(core, request, call, leg, { [field]: target.name }, undefined, decision.grantId);
    return;
  }
  // Its status and result are what the request that made it found: allowed while the grant that let that request go is
  // (or another allowing it), and cut off with it (enforceGrants). Cancelling it is always allowed.
  const allowed = request.method === 'tasks/cancel' ? undefined : task!.madeBy?.allowedBy;
  if (allowed) {
    if (!core.stillAllowed(allowed)) {
      const { reason, detail } = core.lapseOf(allowed, 'task ended');
      return core.reply(call, await core.refuse(request, reason, detail, { server: leg.server, why: { grantId: allowed.grantId, taskId: target.name } }));
    }
    call.allowedBy = { leg, subject: allowed.subject, grantId: allowed.grantId, mark: allowed.mark };
  }
  // A task's answers say that it is over (tasks/result) or how it stands (tasks/get, tasks/cancel): a finished one has nothing left to cut off.
  const over = (result: Json): Json => {
    task!.status = 'completed';
    return asClientSees(core, leg)(result);
  };
  const stands = (result: Json): Json => {
    core.serverTasks.heard(leg, result);
    return taskOut(core.naming, leg.server, result);
  };
  const heard = request.method === 'tasks/result' ? over : stands;
  const answer = await forward(core, request, call, leg, { [field]: target.name }, heard, allowed?.grantId);
  if (answer && request.method === 'tasks/result') recordTaskResult(core, request, task!, answer);
}

/**
 * A task's result is the result of the tool call that made it: measured (`mcp.response`)
 * under that tool, as callTool measures a result answered at once, so a bulk export run as
 * a task reaches the large-payload rule too. A task no tool call made records nothing (only
 * tools/call runs as a task here).
 */
function recordTaskResult(core: SessionCore, request: JsonRpcRequest, task: ServerTask, answer: LegAnswer): void {
  const subject = task.madeBy?.method === 'tools/call' ? task.madeBy.allowedBy.subject : undefined;
  if (subject?.kind === 'tool') core.recordResult(request, task.leg.server, subject.name, answer);
}

/** Requests about one resource, routed by its URI. */
async function toResource(core: SessionCore, request: JsonRpcRequest, call: Call): Promise<void> {
  const uri = isRecord(request.params) ? request.params.uri : undefined;
  const target = typeof uri === 'string' ? core.naming.uriIn(uri) : null;
  const leg = target && core.legs.get(target.server);
  if (!target || !leg) return core.reply(call, await core.refuse(request, 'unknown_resource', `no server of this session serves ${JSON.stringify(String(uri ?? '').slice(0, 256))}`, { code: INVALID_PARAMS }));
  const decision = allowedOrNot(call, leg, { kind: 'resource', uri: target.name });
  if (!decision.allowed) return core.reply(call, await refuseByGrant(core, request, decision, uri as string, { server: leg.server, kind: 'resource' }));
  const map = request.method === 'resources/read' ? (result: Json) => asClientSees(core, leg)(contentsAllowed(leg, result)) : undefined;
  // Subscribing and unsubscribing are allowed as reading is; the grant is recorded for each.
  await forward(core, request, call, leg, { uri: target.name }, map, decision.grantId);
}

/**
 * A read's contents, each only when the grants allow its own URI (in the server's names,
 * as the URI read was decided): a directory-like resource may answer with entries under
 * other URIs, some of which the grant denies. An entry without a URI is left out too.
 */
function contentsAllowed(leg: Leg, result: Json): Json {
  if (!Array.isArray(result.contents)) return result;
  const contents = result.contents.filter((entry) => isRecord(entry) && typeof entry.uri === 'string' && leg.grants.allows({ kind: 'resource', uri: entry.uri }));
  return contents.length === result.contents.length ? result : { ...result, contents };
}

/** Completion, routed by the prompt or resource template it completes for, and allowed as that prompt or template is. */
async function complete(core: SessionCore, request: JsonRpcRequest, call: Call): Promise<void> {
  const ref = isRecord(request.params) && isRecord(request.params.ref) ? request.params.ref : {};
  const target =
    ref.type === 'ref/prompt' && typeof ref.name === 'string' ? await resolve(core, call, 'prompt', ref.name) : ref.type === 'ref/resource' && typeof ref.uri === 'string' ? core.naming.uriIn(ref.uri) : null;
  const leg = target && core.legs.get(target.server);
  if (!target || !leg) return core.reply(call, await core.refuse(request, 'unknown_reference', 'the completion refers to no prompt or resource of this session', { code: INVALID_PARAMS }));
  const subject = ref.type === 'ref/prompt' ? ({ kind: 'prompt', name: target.name } as const) : ({ kind: 'resourceTemplate', uriTemplate: target.name } as const);
  const decision = allowedOrNot(call, leg, subject);
  if (!decision.allowed) return core.reply(call, await refuseByGrant(core, request, decision, String(ref.name ?? ref.uri), { server: leg.server, kind: subject.kind }));
  const params = request.params as Json;
  const map = subject.kind === 'resourceTemplate' ? (result: Json) => asClientSees(core, leg)(completionsAllowed(leg, subject.uriTemplate, params, result)) : undefined;
  await forward(core, request, call, leg, { ref: { ...ref, ...(ref.type === 'ref/prompt' ? { name: target.name } : { uri: target.name }) } }, map, decision.grantId);
}

/**
 * A resource template's completions, each only when the URI it completes the template to
 * (with the other arguments the client gave, the rest left as they are) is one the grants
 * allow: a grant may allow a template and deny some of the resources it leads to, and a
 * completion naming one would tell the client what it may not read. Checked as written
 * and percent-encoded (RFC 6570 encodes a plain variable), so neither form slips through.
 */
function completionsAllowed(leg: Leg, template: string, params: Json, result: Json): Json {
  const completion = isRecord(result.completion) ? result.completion : null;
  const argument = isRecord(params.argument) ? params.argument.name : undefined;
  if (!completion || !Array.isArray(completion.values) || typeof argument !== 'string') return result;
  const given = isRecord(params.context) && isRecord(params.context.arguments) ? params.context.arguments : {};
  const allowed = (value: unknown) =>
    typeof value === 'string' &&
    [false, true].every((encode) => {
      const uri = expandTemplate(template, { ...given, [argument]: value }, encode);
      return leg.grants.allows(uri.includes('{') ? { kind: 'resourceTemplate', uriTemplate: uri } : { kind: 'resource', uri });
    });
  const values = completion.values.filter(allowed);
  if (values.length === completion.values.length) return result;
  // The total would count what was left out.
  const { total: _total, ...rest } = completion;
  return { ...result, completion: { ...rest, values } };
}

/** The template with the variables `values` names filled in (one per expression; the others left as written). */
function expandTemplate(template: string, values: Record<string, unknown>, encode: boolean): string {
  return template.replace(/\{([+#./;?&]?)([A-Za-z0-9_.%]+)\*?\}/g, (expression, operator: string, name: string) => {
    const value = values[name];
    if (typeof value !== 'string') return expression;
    return `${expansionPrefix(operator, name)}${encode ? encodeURIComponent(value) : value}`;
  });
}

/** What an RFC 6570 operator puts before a value: nothing for a plain or `+` expression, the name too for `;`, `?` and `&`. */
function expansionPrefix(operator: string, name: string): string {
  if (operator === '' || operator === '+') return '';
  return ';?&'.includes(operator) ? `${operator}${name}=` : operator;
}

/** The log level goes to every server that logs; the answer waits for them all. */
async function setLevel(core: SessionCore, request: JsonRpcRequest, call: Call): Promise<void> {
  if (!(await core.audited(call, requestEvent(request, null, 'SUCCESS')))) return;
  const legs = await legsWith(core, 'logging');
  const answers = await Promise.all(legs.map((leg) => core.ask(call, leg, 'logging/setLevel', request.params)));
  const failed = answers.find((a) => a.kind !== 'result');
  core.reply(call, failed && answers.every((a) => a.kind !== 'result') ? core.answerOf(request.id, failed) : { jsonrpc: '2.0', id: request.id, result: {} });
}

/**
 * A listing, filtered to what the grants allow. One server: its page, as it sent it. Several:
 * the next page of every server that has more, asked at once and merged, under an opaque
 * cursor holding each server's own.
 */
async function list(core: SessionCore, request: JsonRpcRequest, call: Call): Promise<void> {
  const { key, capability } = LISTINGS[request.method]!;
  if (!(await core.audited(call, requestEvent(request, null, 'SUCCESS')))) return;
  const params = isRecord(request.params) ? request.params : {};
  if (!core.naming.federated) {
    const leg = core.legs.values().next().value!;
    const answer = await core.ask(call, leg, request.method, request.params);
    const items = answer.kind === 'result' ? await shownOf(core, leg, key, answer.result[key]) : [];
    return core.reply(call, core.answerOf(request.id, answer, (result) => ({ ...result, [key]: items })));
  }
  let positions: Positions | null;
  if (typeof params.cursor === 'string') positions = core.cursors.positions(request.method, params.cursor);
  else positions = Object.fromEntries((await legsWith(core, capability)).map((leg) => [leg.server, '']));
  if (!positions) return core.reply(call, await core.refuse(request, 'invalid_cursor', 'Invalid params: not a cursor this session issued', { code: INVALID_PARAMS }));
  const pages = await Promise.all(
    Object.entries(positions).flatMap(([server, cursor]) => {
      const leg = core.legs.get(server);
      return leg ? [core.ask(call, leg, request.method, cursor === '' ? {} : { cursor }).then((answer) => ({ leg, answer }))] : [];
    }),
  );
  // The broker's own tool leads the first page.
  const items: unknown[] = key === 'tools' && params.cursor === undefined && core.deps.requestAccess ? [REQUEST_ACCESS_DEFINITION] : [];
  const next: Positions = {};
  for (const { leg, answer } of pages) {
    if (answer.kind === 'cancelled') return core.reply(call, null);
    if (answer.kind !== 'result') continue;
    items.push(...listedOut(core, leg, key, await shownOf(core, leg, key, answer.result[key])));
    if (typeof answer.result.nextCursor === 'string') next[leg.server] = answer.result.nextCursor;
  }
  const nextCursor = core.cursors.issue(request.method, next);
  core.reply(call, { jsonrpc: '2.0', id: request.id, result: { [key]: items, ...(nextCursor ? { nextCursor } : {}) } });
}

/**
 * A method MCP does not define: refused, unless the operator allows it on the server (a
 * single-server session then passes it on; a federated one cannot tell which server it is for).
 */
async function other(core: SessionCore, request: JsonRpcRequest, call: Call): Promise<void> {
  const method = JSON.stringify(request.method.slice(0, 128));
  const allowedOn = [...core.legs.values()].filter((leg) => leg.allowMethods.has(request.method));
  if (allowedOn.length === 0) return core.reply(call, await core.refuse(request, 'method_not_granted', `method ${method} is not an MCP method, and no server of this session allows it`, { why: { clause: 'unknown_method' }, data: { clause: 'unknown_method' } }));
  if (core.naming.federated) {
    return core.reply(call, await core.refuse(request, 'method_not_federated', `Method not found: ${method} names no server, so the federated endpoint cannot route it (use /mcp/ws/<server>)`, { code: METHOD_NOT_FOUND }));
  }
  await forward(core, request, call, allowedOn[0]!, {});
}

function soleLeg(core: SessionCore): Leg {
  return core.legs.values().next().value!;
}

/**
 * Audit, then send to one server with some params replaced, and answer with its answer
 * (names made the client's). `grantId`: the grant that allowed it, recorded with it.
 * Returns the server's answer (none when the request went nowhere).
 */
async function forward(core: SessionCore, request: JsonRpcRequest, call: Call, leg: Leg, replaced: Json, map?: (result: Json) => Json, grantId?: string): Promise<LegAnswer | undefined> {
  const params = mapParamsIn(core, request, leg, replaced);
  if (params === null) return void core.reply(call, await unknownTask(core, request));
  if (!(await core.audited(call, { ...requestEvent(request, null, 'SUCCESS', grantId === undefined ? undefined : { grantId }), server: leg.server }))) return;
  const answer = await core.ask(call, leg, request.method, params);
  madeTask(core, call, leg, answer);
  core.reply(call, core.answerOf(request.id, answer, map ?? asClientSees(core, leg)));
  return answer;
}

/** A server's result as the client sees it (federation-map.ts resultOut). */
function asClientSees(core: SessionCore, leg: Leg): (result: Json) => Json {
  return (result) => resultOut(core, leg.server, result);
}

/** A request run as a task: the grant that let it go decides on the task's status and result too (toNamed). */
function madeTask(core: SessionCore, call: Call, leg: Leg, answer: LegAnswer): void {
  const allowedBy = call.allowedBy;
  const created = answer.kind === 'result' && allowedBy ? createdTaskOf(answer.result) : undefined;
  if (created) core.serverTasks.madeBy(leg, created.taskId, call.method, allowedBy!);
}

/**
 * The request's params with names replaced by the server's own; null when it relates to a
 * task of another server (or of none): a server sees only its own tasks' ids.
 */
function mapParamsIn(core: SessionCore, request: JsonRpcRequest, leg: Leg, replaced: Json): Json | undefined | null {
  // One server: its names are the client's, so the params go as they came.
  if (!core.naming.federated) return request.params as Json | undefined;
  const params = { ...(isRecord(request.params) ? request.params : {}), ...replaced };
  const mapped = metaIn(core.naming, params);
  return mapped && (mapped.server === null || mapped.server === leg.server) ? mapped.value : null;
}

function unknownTask(core: SessionCore, request: JsonRpcRequest) {
  return core.refuse(request, 'unknown_task', 'Invalid params: the related task belongs to no server of this session', { code: INVALID_PARAMS });
}

/** Listed items with the names the client knows them by. */
function listedOut(core: SessionCore, leg: Leg, key: string, items: unknown[]): unknown[] {
  const { naming } = core;
  return items.flatMap((item) => {
    if (!isRecord(item)) return [];
    switch (key) {
      case 'tools':
        return typeof item.name === 'string' ? [{ ...item, name: naming.out('tool', leg.server, item.name) }] : [];
      case 'prompts':
        return typeof item.name === 'string' ? [{ ...item, name: naming.out('prompt', leg.server, item.name) }] : [];
      case 'resources':
        return typeof item.uri === 'string' ? [{ ...item, uri: naming.uriOut(leg.server, item.uri) }] : [];
      case 'resourceTemplates':
        return typeof item.uriTemplate === 'string' ? [{ ...item, uriTemplate: naming.uriOut(leg.server, item.uriTemplate) }] : [];
      default:
        return [taskOut(naming, leg.server, item)];
    }
  });
}

/** Listed items the client may see: those the grants allow, and of tools those whose definition is pinned (tool-pins.ts). */
function shownOf(core: SessionCore, leg: Leg, key: string, items: unknown): Promise<unknown[]> | unknown[] {
  if (key === 'tools') leg.noteShown(items);
  const allowed = granted(core.serverTasks, leg, key, items);
  return key === 'tools' ? screenTools(core, leg, allowed) : allowed;
}

/**
 * Listed items the server's grants allow: tools (under a read-only grant, those read-only
 * when it was issued, and on this page, and not known otherwise: Leg.noteShown), prompts,
 * resources and resource templates; of tasks, those the server created for this session
 * (server-tasks.ts). Items without the field they are known by are left out.
 */
function granted(tasks: ServerTasks, leg: Leg, key: string, items: unknown): unknown[] {
  if (!Array.isArray(items)) return [];
  const allowed = (item: unknown): boolean => {
    if (!isRecord(item)) return false;
    switch (key) {
      case 'tools':
        // Shown as the page gives it (read-only, and not known otherwise); a call to it is decided on the whole listing.
        return typeof item.name === 'string' && leg.grants.allows({ kind: 'tool', name: item.name, writable: leg.shownWritable(item.name) === true });
      case 'prompts':
        return typeof item.name === 'string' && leg.grants.allows({ kind: 'prompt', name: item.name });
      case 'resources':
        return typeof item.uri === 'string' && leg.grants.allows({ kind: 'resource', uri: item.uri });
      case 'resourceTemplates':
        return typeof item.uriTemplate === 'string' && leg.grants.allows({ kind: 'resourceTemplate', uriTemplate: item.uriTemplate });
      default:
        return typeof item.taskId === 'string' && tasks.owns(leg.server, item.taskId);
    }
  };
  return items.filter(allowed);
}

/** Servers whose initialize answered with this capability (all servers until they answered). */
async function legsWith(core: SessionCore, capability: string): Promise<Leg[]> {
  const legs = [...core.legs.values()];
  const inits = await Promise.all(legs.map((leg) => leg.init ?? Promise.resolve(undefined)));
  return legs.filter((_, i) => inits[i] === undefined || (inits[i] !== null && inits[i]!.capabilities[capability] !== undefined));
}

/**
 * The server and name behind a client-side name. A federated name the registry does not
 * know yet (a client that reconnected and did not list again) is looked up by listing the
 * servers once more: names are never taken apart.
 */
async function resolve(core: SessionCore, call: Call, kind: Kind, name: string): Promise<Target | null> {
  const known = core.naming.in(kind, name);
  if (known || !core.naming.federated || kind === 'task' || core.naming.missing(kind, name)) return known;
  const method = kind === 'tool' ? 'tools/list' : 'prompts/list';
  const { key, capability } = LISTINGS[method]!;
  const named = (leg: Leg) => (items: unknown[]) => {
    for (const item of items) if (isRecord(item) && typeof item.name === 'string') core.naming.out(kind, leg.server, item.name);
  };
  await Promise.all(
    (await legsWith(core, capability)).map((leg) =>
      // Tools read here are checked against their pins as a listing's are: the call that follows is refused
      // by name (tool_definition_changed) when one changed, so its name is known all the same.
      kind === 'tool' ? readToolListing(core, call, leg, named(leg)) : readListing(core, call, leg, method, key, named(leg)),
    ),
  );
  return core.naming.in(kind, name) ?? core.naming.markMissing(kind, name);
}
