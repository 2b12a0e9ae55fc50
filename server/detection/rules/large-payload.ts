import { tagOf } from '../person-tag.js';
import type { DetectionConfig, DetectionRule, EntityState, Observation } from '../types.js';
import { finding, sizeText } from './finding.js';
import { flagged, incidentLatch, ongoing } from './incident.js';
import type { IncidentLatch } from './incident.js';
import { medianAndMad } from './robust.js';
import { slotOf } from './slot.js';
import { MINUTE_MS } from './time.js';

/** Sizes remembered per tool and direction (config `minSamples` is at most this). */
const SAMPLES = 128;
/**
 * Sizes one person holds in a tool's ring at most: past it, their new size replaces their
 * own oldest. Without a cap one person's many tiny calls fill the ring and drag the tool's
 * median down until a colleague's ordinary upload is "outsized" (and, with `revoke_grant`
 * configured, costs the colleague their grant). A quarter of the ring: a tool used by one
 * person still reaches the default `minSamples` (30) on their sizes alone.
 */
const PER_PERSON = 32;
/** A result too small to be audited (below `resultFloorBytes`): its size is only known to be under the floor. */
const CENSORED = 0;
/** A cached baseline is recomputed after this many new samples: sorting on every large payload would cost more than the rest of the detector. */
const REFRESH_EVERY = 8;
/** How many of a person's latest sizes a result looks through for its call's placeholder. */
const MATCH_BACK = 16;
/** Outsized payloads of one person less than this apart are one incident (a bulk export). */
const INCIDENT_GAP_MS = 10 * MINUTE_MS;

type Settings = DetectionConfig['rules']['large_payload'];

/**
 * A tool's last sizes (log2 bytes, two decimals), oldest first, each with the tag of the
 * person who sent it (at most PER_PERSON each), and the baseline last computed from them.
 */
interface Sizes {
  log: number[];
  who: string[];
  added: number;
  baseline: { median: number; mad: number; added: number } | null;
}

interface ToolSizes {
  params: Sizes;
  results: Sizes;
}

const sizes = (): Sizes => ({ log: [], who: [], added: 0, baseline: null });
const toolSizes = (): ToolSizes => ({ params: sizes(), results: sizes() });

/**
 * Params or a result far larger than this tool's own usual (median and MAD of log sizes
 * over its recent calls, by everyone): data leaving in bulk, or a payload smuggled in. A
 * tool whose results are always big has a big baseline and stays quiet. Results under
 * `resultFloorBytes` are not audited: every call first counts as such a small result, and
 * its `mcp.response`, when one comes, replaces it.
 *
 * One person cannot make the baseline another is judged by: each holds at most
 * PER_PERSON sizes, and a call is judged only while nobody else holds more than half of
 * them (a robust median breaks down at half). Someone alone on a tool is judged by their
 * own sizes. The baseline is the tool's, so a person is judged from their first call.
 */
export const largePayload: DetectionRule = {
  id: 'large_payload',
  judgesNewcomers: true,
  evaluate(observation, context) {
    if (!context.tool || (observation.kind !== 'call' && observation.kind !== 'result')) return null;
    const settings = context.config.rules.large_payload;
    const state = sizesOf(context.tool);
    const person = slotOf<IncidentLatch>(context.user, 'large_payload', incidentLatch);
    const tag = tagOf(context.user, observation.user);
    const direction = observation.kind === 'call' ? 'params' : 'results';
    const bytes = observation.kind === 'call' ? observation.paramsBytes : observation.resultBytes;
    if (observation.kind === 'call') push(state.results, tag, CENSORED);
    if (bytes === null || bytes <= 0) return null;
    const floor = Math.log2(settings.resultFloorBytes);
    // Judged against the sizes before it (its own placeholder, for a result, still counts as small).
    const limit = bytes >= settings.minBytes && state[direction].log.length >= settings.minSamples ? limitOf(state[direction], settings, direction === 'results' ? floor : null, tag) : null;
    record(state[direction], direction, tag, Math.round(Math.log2(bytes) * 100) / 100);
    if (limit === null || bytes < limit.bytes) return null;
    if (ongoing(person, observation.at, INCIDENT_GAP_MS)) return null;
    flagged(person, observation.at, INCIDENT_GAP_MS);
    return explain(observation, direction, bytes, limit, settings, context.config, context.tool);
  },
};

/** The tool's rings; rings stored before sizes named who sent them start over, as they cannot be capped per person. */
function sizesOf(tool: EntityState): ToolSizes {
  const state = slotOf<ToolSizes>(tool, 'large_payload', toolSizes);
  if (Array.isArray(state.params.who) && Array.isArray(state.results.who)) return state;
  return (tool.slots.large_payload = toolSizes());
}

/** Appends a size: in place of the person's oldest when they hold PER_PERSON already, else of the ring's oldest when it is full. */
function push(ring: Sizes, tag: string, log: number): void {
  let mine = 0;
  let oldestMine = -1;
  for (let i = 0; i < ring.who.length; i++) {
    if (ring.who[i] === tag && mine++ === 0) oldestMine = i;
  }
  const dropped = mine >= PER_PERSON ? oldestMine : ring.log.length >= SAMPLES ? 0 : -1;
  if (dropped >= 0) {
    ring.log.splice(dropped, 1);
    ring.who.splice(dropped, 1);
  }
  ring.log.push(log);
  ring.who.push(tag);
  ring.added++;
}

/** A result takes its call's placeholder (the person's latest small one); params are a sample of their own. */
function record(ring: Sizes, direction: 'params' | 'results', tag: string, log: number): void {
  if (direction === 'results') {
    for (let i = ring.who.length - 1, seen = 0; i >= 0 && seen < MATCH_BACK; i--) {
      if (ring.who[i] !== tag) continue;
      if (ring.log[i] === CENSORED) return void (ring.log[i] = log);
      seen++;
    }
  }
  push(ring, tag, log);
}

interface Limit {
  bytes: number;
  median: number;
  mad: number;
  samples: number;
  people: number;
}

/**
 * The size to reach: `factor` times the median and past `madMultiplier` MADs (in log
 * size), never under minBytes; null when one person other than the one judged holds more
 * than half of the sizes (whoever holds the majority sets the median).
 */
function limitOf(ring: Sizes, settings: Settings, censoredAs: number | null, tag: string): Limit | null {
  const held = new Map<string, number>();
  let most = 0;
  for (const who of ring.who) {
    const count = (held.get(who) ?? 0) + 1;
    held.set(who, count);
    if (who !== tag && count > most) most = count;
  }
  if (most * 2 > ring.who.length) return null;
  if (!ring.baseline || ring.added - ring.baseline.added >= REFRESH_EVERY) {
    // A small result counts at the floor: an upper bound, so the baseline errs large and the rule quiet.
    const values = ring.log.map((log) => (log === CENSORED && censoredAs !== null ? censoredAs : log));
    ring.baseline = { ...medianAndMad(values), added: ring.added };
  }
  const { median, mad } = ring.baseline;
  const log = Math.max(median + Math.log2(settings.factor), median + settings.madMultiplier * mad);
  return { bytes: Math.max(settings.minBytes, Math.ceil(2 ** log)), median, mad, samples: ring.log.length, people: held.size };
}

function explain(observation: Observation, direction: 'params' | 'results', bytes: number, limit: Limit, settings: Settings, config: DetectionConfig, tool: EntityState) {
  const name = `${observation.server}/${observation.tool}`;
  const usual = Math.round(2 ** limit.median);
  const what = direction === 'params' ? `sent ${sizeText(bytes)} of parameters to ${name}` : `received a ${sizeText(bytes)} result from ${name}`;
  const why = direction === 'params' ? 'an outsized argument can carry data out, or a payload in' : 'an outsized result can be data leaving in bulk';
  const by = `${limit.people} ${limit.people === 1 ? 'person' : 'people'}`;
  return finding(config, 'large_payload', {
    score: bytes / limit.bytes,
    summary: `${observation.user} ${what}, where this tool's ${direction} have a median of ${sizeText(usual)} over ${limit.samples} recent calls by ${by} (limit ${sizeText(limit.bytes)}): ${why}`,
    observed: { direction, bytes, tool: name },
    baseline: { medianBytes: usual, madLog2: limit.mad, limitBytes: limit.bytes, samples: limit.samples, people: limit.people, factor: settings.factor, toolCalls: tool.count },
    eventIds: [observation.event.id],
  });
}
