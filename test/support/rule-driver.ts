import type { AuditEvent } from '../../server/audit/types.js';
import { configSchema } from '../../server/config/schema.js';
import { entityKey } from '../../server/detection/types.js';
import type { DetectionConfig, DetectionRule, EntityState, Finding, Observation } from '../../server/detection/types.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
export const WEEK = 7 * DAY;
/** A Monday, 00:00 UTC: simulated weeks start here. */
export const MONDAY = Date.UTC(2026, 0, 5);

/** Detection settings as the config would parse them, with some rules' thresholds overridden. */
export function detectionConfig(detection: Record<string, unknown> = {}): DetectionConfig {
  return configSchema.parse({ server: { publicUrl: 'http://127.0.0.1:8080' }, detection }).detection;
}

type ObservationFields = Partial<Omit<Observation, 'event' | 'at'>> & { at: number };

/**
 * Drives rules as the engine does: an entity state per user, tool and role (first seen,
 * count), `warm` once the user is past the warm-up, each observation given to every rule
 * in turn. Events are literals with the fields rules read.
 */
export class RuleDriver {
  readonly states = new Map<string, EntityState>();
  /** Every finding raised, and the cursor of the event that raised it (same index). */
  readonly findings: Finding[] = [];
  readonly triggeredBy: string[] = [];
  private nextId = 1;

  constructor(
    private readonly rules: DetectionRule[],
    readonly config: DetectionConfig = detectionConfig(),
  ) {}

  /** Feeds one observation; returns the findings it raised. */
  feed(fields: ObservationFields): Finding[] {
    const observation = this.observation(fields);
    const user = this.entity(entityKey('user', observation.user), observation.at);
    const tool = observation.server !== null && observation.tool !== null ? this.entity(entityKey('tool', `${observation.server}/${observation.tool}`), observation.at) : null;
    const role = observation.role !== null ? this.entity(entityKey('role', observation.role), observation.at) : null;
    const warm = observation.at - user.firstSeen >= this.config.warmupDays * DAY && user.count >= this.config.warmupEvents;
    const found = this.rules.flatMap((rule) => rule.evaluate(observation, { user, warm, tool, role, config: this.config }) ?? []);
    for (const finding of found) {
      this.findings.push(finding);
      this.triggeredBy.push(observation.event.id);
    }
    return found;
  }

  /** Size of a rule's state in an entity, as the store would hold it. */
  slotBytes(key: string, rule: DetectionRule): number {
    return JSON.stringify(this.states.get(key)?.slots[rule.id] ?? null).length;
  }

  private observation(fields: ObservationFields): Observation {
    const user = fields.user ?? 'alice@example.com';
    const event = { id: `${fields.at}-${this.nextId++}`, time: new Date(fields.at).toISOString(), actor: user, server: fields.server ?? null, tool: fields.tool ?? null } as AuditEvent;
    return {
      event,
      user,
      kind: 'call',
      server: null,
      tool: null,
      method: fields.kind === undefined || fields.kind === 'call' ? 'tools/call' : null,
      role: null,
      grantId: null,
      client: null,
      paramsBytes: null,
      resultBytes: null,
      argumentsDigest: null,
      denial: null,
      ...fields,
    };
  }

  private entity(key: string, at: number): EntityState {
    let state = this.states.get(key);
    if (!state) this.states.set(key, (state = { firstSeen: at, lastSeen: at, count: 0, slots: {} }));
    state.lastSeen = at;
    state.count++;
    return state;
  }
}

/** Times of a working day's calls: `perHour` calls an hour from `fromHour` to `toHour` (UTC) of the day starting at `day`. */
export function workingDay(day: number, fromHour: number, toHour: number, perHour: number): number[] {
  const times: number[] = [];
  for (let hour = fromHour; hour < toHour; hour++) for (let i = 0; i < perHour; i++) times.push(day + hour * HOUR + Math.floor(((i + 0.5) * HOUR) / perHour));
  return times;
}

export interface Routine {
  user?: string;
  /** Midnight UTC of the first day. */
  start: number;
  days: number;
  fromHour: number;
  toHour: number;
  perHour: number;
  /** Saturdays and Sundays off (the default). */
  weekdaysOnly?: boolean;
  /** What the i-th call of the routine is (server, tool, sizes...). */
  call?: (i: number) => Omit<ObservationFields, 'at'>;
}

/** Feeds a person's habit: calls spread evenly over their working hours, day after day. */
export function runRoutine(driver: RuleDriver, routine: Routine): Finding[] {
  const found: Finding[] = [];
  let i = 0;
  for (let d = 0; d < routine.days; d++) {
    const day = routine.start + d * DAY;
    const weekday = new Date(day).getUTCDay();
    if ((routine.weekdaysOnly ?? true) && (weekday === 0 || weekday === 6)) continue;
    for (const at of workingDay(day, routine.fromHour, routine.toHour, routine.perHour)) {
      found.push(...driver.feed({ server: 'github', tool: 'search_code', ...routine.call?.(i++), ...(routine.user ? { user: routine.user } : {}), at }));
    }
  }
  return found;
}
