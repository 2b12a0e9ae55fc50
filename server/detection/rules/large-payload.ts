import type { DetectionConfig, DetectionRule, EntityState, Observation } from '../types.js';
import { finding, sizeText } from './finding.js';
import { flagged, incidentLatch, ongoing } from './incident.js';
import type { IncidentLatch } from './incident.js';
import { medianAndMad } from './robust.js';
import { slotOf } from './slot.js';
import { MINUTE_MS } from './time.js';

/** Sizes remembered per tool and direction (config `minSamples` is at most this). */
const SAMPLES = 128;
/** A result too small to be audited (below `resultFloorBytes`): its size is only known to be under the floor. */
const CENSORED = 0;
/** A cached baseline is recomputed after this many new samples: sorting on every large payload would cost more than the rest of the detector. */
const REFRESH_EVERY = 8;
/** How far back a result looks for its call's placeholder. */
const MATCH_BACK = 16;
/** Outsized payloads of one person less than this apart are one incident (a bulk export). */
const INCIDENT_GAP_MS = 10 * MINUTE_MS;

type Settings = DetectionConfig['rules']['large_payload'];

/** The last SAMPLES sizes (log2 bytes, two decimals) in a ring, and the baseline last computed from them. */
interface Sizes {
  log: number[];
  next: number;
  added: number;
  baseline: { median: number; mad: number; added: number } | null;
}

interface ToolSizes {
  params: Sizes;
  results: Sizes;
}

const sizes = (): Sizes => ({ log: [], next: 0, added: 0, baseline: null });

/**
 * Params or a result far larger than this tool's own usual (median and MAD of log sizes
 * over its last calls, by everyone): data leaving in bulk, or a payload smuggled in. A
 * tool whose results are always big has a big baseline and stays quiet. Results under
 * `resultFloorBytes` are not audited: every call first counts as such a small result, and
 * its `mcp.response`, when one comes, replaces it.
 */
export const largePayload: DetectionRule = {
  id: 'large_payload',
  evaluate(observation, context) {
    if (!context.tool || (observation.kind !== 'call' && observation.kind !== 'result')) return null;
    const settings = context.config.rules.large_payload;
    const state = slotOf<ToolSizes>(context.tool, 'large_payload', () => ({ params: sizes(), results: sizes() }));
    const direction = observation.kind === 'call' ? 'params' : 'results';
    const bytes = observation.kind === 'call' ? observation.paramsBytes : observation.resultBytes;
    if (observation.kind === 'call') push(state.results, CENSORED);
    if (bytes === null || bytes <= 0) return null;
    const floor = Math.log2(settings.resultFloorBytes);
    // Judged against the sizes before it (its own placeholder, for a result, still counts as small).
    const limit = bytes >= settings.minBytes && state[direction].added >= settings.minSamples ? limitOf(state[direction], settings, direction === 'results' ? floor : null) : null;
    record(state[direction], direction, Math.round(Math.log2(bytes) * 100) / 100);
    if (limit === null || bytes < limit.bytes) return null;
    const latch = slotOf<IncidentLatch>(context.user, 'large_payload', incidentLatch);
    if (ongoing(latch, observation.at, INCIDENT_GAP_MS)) return null;
    flagged(latch, observation.at, INCIDENT_GAP_MS);
    return explain(observation, direction, bytes, limit, settings, context.config, context.tool);
  },
};

function push(ring: Sizes, log: number): void {
  ring.log[ring.next] = log;
  ring.next = (ring.next + 1) % SAMPLES;
  ring.added++;
}

/** A result takes its call's placeholder (the latest small one); params are a sample of their own. */
function record(ring: Sizes, direction: 'params' | 'results', log: number): void {
  if (direction === 'results') {
    for (let back = 1; back <= MATCH_BACK && back <= ring.log.length; back++) {
      const slot = (ring.next - back + SAMPLES) % SAMPLES;
      if (ring.log[slot] === CENSORED) return void (ring.log[slot] = log);
    }
  }
  push(ring, log);
}

interface Limit {
  bytes: number;
  median: number;
  mad: number;
  samples: number;
}

/** The size to reach: `factor` times the median and past `madMultiplier` MADs (in log size), never under minBytes. */
function limitOf(ring: Sizes, settings: Settings, censoredAs: number | null): Limit {
  if (!ring.baseline || ring.added - ring.baseline.added >= REFRESH_EVERY) {
    // A small result counts at the floor: an upper bound, so the baseline errs large and the rule quiet.
    const values = ring.log.map((log) => (log === CENSORED && censoredAs !== null ? censoredAs : log));
    ring.baseline = { ...medianAndMad(values), added: ring.added };
  }
  const { median, mad } = ring.baseline;
  const log = Math.max(median + Math.log2(settings.factor), median + settings.madMultiplier * mad);
  return { bytes: Math.max(settings.minBytes, Math.ceil(2 ** log)), median, mad, samples: ring.log.length };
}

function explain(observation: Observation, direction: 'params' | 'results', bytes: number, limit: Limit, settings: Settings, config: DetectionConfig, tool: EntityState) {
  const name = `${observation.server}/${observation.tool}`;
  const usual = Math.round(2 ** limit.median);
  const what = direction === 'params' ? `sent ${sizeText(bytes)} of parameters to ${name}` : `received a ${sizeText(bytes)} result from ${name}`;
  const why = direction === 'params' ? 'an outsized argument can carry data out, or a payload in' : 'an outsized result can be data leaving in bulk';
  return finding(config, 'large_payload', {
    score: bytes / limit.bytes,
    summary: `${observation.user} ${what}, where this tool's ${direction} have a median of ${sizeText(usual)} over its last ${limit.samples} calls (limit ${sizeText(limit.bytes)}): ${why}`,
    observed: { direction, bytes, tool: name },
    baseline: { medianBytes: usual, madLog2: limit.mad, limitBytes: limit.bytes, samples: limit.samples, factor: settings.factor, toolCalls: tool.count },
    eventIds: [observation.event.id],
  });
}
