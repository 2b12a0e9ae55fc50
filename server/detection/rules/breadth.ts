import { MAX_FINDING_EVENTS, toolId } from '../types.js';
import type { DetectionConfig, DetectionRule, Observation } from '../types.js';
import { finding } from './finding.js';
import { flagged, incidentLatch, ongoing } from './incident.js';
import type { IncidentLatch } from './incident.js';
import { forgetBefore, recencySet, touch } from './recency-set.js';
import type { RecencySet } from './recency-set.js';
import { eventRing, idsAfter, pushEvent } from './recent-events.js';
import type { EventRing } from './recent-events.js';
import { slotOf } from './slot.js';
import { windowText } from './time.js';

type Settings = DetectionConfig['rules']['breadth'];

/** What the window saw: each set holds at most a little more than its threshold. */
interface BreadthState {
  tools: RecencySet;
  servers: RecencySet;
  /** Argument values (digests) per tool (toolId), kept only for tools the window still knows. */
  args: Record<string, RecencySet>;
  argTools: number;
  /**
   * Resources read and prompts got (digests of a URI, of a name and arguments) per server,
   * which name no tool, kept only for servers the window still knows. Absent in a state
   * stored before they were counted.
   */
  reads?: Record<string, RecencySet>;
  calls: EventRing;
  latch: IncidentLatch;
}

function breadthState(): BreadthState {
  return { tools: recencySet(), servers: recencySet(), args: {}, argTools: 0, calls: eventRing(MAX_FINDING_EVENTS), latch: incidentLatch() };
}

/** Characters of an argument digest kept: enough to tell values apart, short enough to keep many. */
const DIGEST_CHARS = 16;

/**
 * Many distinct tools, servers, or argument values of one tool (or resources and prompts of
 * one server) within a window: an agent enumerating what it can reach, or exporting record
 * after record, by a tool or by resources/read. Everyday work touches a few tools with a
 * handful of values; one finding per sweep, naming every dimension past its threshold.
 * Fixed thresholds: values are judged from a person's first call, tools and servers once
 * they are past the warm-up.
 */
export const breadth: DetectionRule = {
  id: 'breadth',
  judgesNewcomers: true,
  evaluate(observation, context) {
    const { server, tool, at } = observation;
    if (observation.kind !== 'call' || server === null) return null;
    const settings = context.config.rules.breadth;
    const windowMs = settings.windowSeconds * 1000;
    const since = at - windowMs;
    const state = slotOf(context.user, 'breadth', breadthState);
    pushEvent(state.calls, at, observation.event.id);
    const toolKey = tool === null ? null : toolId(server, tool);
    const digest = observation.argumentsDigest;
    const counts = {
      servers: widened(state.servers, server, at, since, settings.distinctServers),
      tools: toolKey === null ? 0 : widened(state.tools, toolKey, at, since, settings.distinctTools),
      arguments: digest === null ? 0 : widened(valuesOf(state, server, toolKey, settings), digest.slice(0, DIGEST_CHARS), at, since, settings.distinctArguments),
    };
    // A newcomer finds their way around many tools and servers; sweeping one tool's values (or one
    // server's resources) is no way of learning one's way, so that is judged from the first call.
    const over = overThresholds(context.warm ? counts : { ...counts, servers: 0, tools: 0 }, settings);
    if (over.length === 0 || ongoing(state.latch, at, windowMs)) return null;
    flagged(state.latch, at, windowMs);
    return explain(observation, counts, over, settings, state, context.config);
  },
};

/**
 * Records `key`; when it is new and the set has grown to the threshold, forgets what fell
 * out of the window and returns how many distinct keys the window holds (0 otherwise:
 * nothing new, nothing to judge).
 */
function widened(set: RecencySet, key: string, at: number, since: number, threshold: number): number {
  if (!touch(set, key, at, threshold + 1) || set.size < threshold) return 0;
  forgetBefore(set, since);
  return set.size;
}

/** Where a call's value counts: with its tool's argument values, or (a read, a prompt: no tool) with its server's reads. */
function valuesOf(state: BreadthState, server: string, toolKey: string | null, settings: Settings): RecencySet {
  return toolKey === null ? readsOf(state, server, settings) : argumentsOf(state, toolKey, settings);
}

/** A server's reads; the sets of servers the window forgot go when there are more sets than servers it may hold. */
function readsOf(state: BreadthState, server: string, settings: Settings): RecencySet {
  const reads = (state.reads ??= {});
  // Own members only: server names are slugs, so none is `__proto__` or another Object.prototype name.
  if (Object.hasOwn(reads, server)) return reads[server]!;
  if (Object.keys(reads).length > settings.distinctServers) {
    for (const key in reads) if (!Object.hasOwn(state.servers.last, key)) delete reads[key];
  }
  return (reads[server] = recencySet());
}

/** A tool's argument values; the sets of tools the window forgot go when there are more sets than tools it may hold. */
function argumentsOf(state: BreadthState, toolKey: string, settings: Settings): RecencySet {
  const known = state.args[toolKey];
  if (known) return known;
  if (++state.argTools > settings.distinctTools + 1) {
    for (const key in state.args) {
      if (state.tools.last[key] === undefined) {
        delete state.args[key];
        state.argTools--;
      }
    }
  }
  return (state.args[toolKey] = recencySet());
}

type Counts = { servers: number; tools: number; arguments: number };

function overThresholds(counts: Counts, settings: Settings): (keyof Counts)[] {
  const over: (keyof Counts)[] = [];
  if (counts.tools >= settings.distinctTools) over.push('tools');
  if (counts.servers >= settings.distinctServers) over.push('servers');
  if (counts.arguments >= settings.distinctArguments) over.push('arguments');
  return over;
}

function explain(observation: Observation, counts: Counts, over: (keyof Counts)[], settings: Settings, state: BreadthState, config: DetectionConfig) {
  const thresholds: Counts = { tools: settings.distinctTools, servers: settings.distinctServers, arguments: settings.distinctArguments };
  const values = observation.tool === null ? `resources and prompts of ${observation.server}` : `argument values of ${observation.server}/${observation.tool}`;
  const what = over.map((dimension) => `${counts[dimension]} distinct ${dimension === 'arguments' ? values : dimension} (threshold ${thresholds[dimension]})`).join(' and ');
  const sweep = over.includes('arguments') ? 'record after record, as a bulk export does' : 'one after another, as an agent enumerating its reach does';
  return finding(config, 'breadth', {
    score: Math.max(...over.map((dimension) => counts[dimension] / thresholds[dimension])),
    summary: `${observation.user} used ${what} within ${windowText(settings.windowSeconds)}: everyday work touches a few, this went through them ${sweep}`,
    observed: {
      windowSeconds: settings.windowSeconds,
      ...Object.fromEntries(over.map((dimension) => [`distinct${dimension[0]!.toUpperCase()}${dimension.slice(1)}`, counts[dimension]])),
      ...(over.includes('arguments') ? (observation.tool === null ? { server: observation.server } : { tool: `${observation.server}/${observation.tool}` }) : {}),
      ...(over.includes('tools') ? { tools: Object.keys(state.tools.last).slice(0, 20) } : {}),
      ...(over.includes('servers') ? { servers: Object.keys(state.servers.last) } : {}),
    },
    baseline: Object.fromEntries(over.map((dimension) => [`distinct${dimension[0]!.toUpperCase()}${dimension.slice(1)}`, thresholds[dimension]])),
    eventIds: idsAfter(state.calls, observation.at - settings.windowSeconds * 1000),
  });
}
