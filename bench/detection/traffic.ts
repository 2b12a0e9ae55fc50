/**
 * What the workload does, as a list of timed actions: each person's daily traffic (agent
 * tasks in their working hours, in their time zone, with their tools and argument values)
 * and, from incidents.ts, the injected incidents. Times are simulated (ms since the epoch),
 * whole minutes, so many actions share an instant and run together.
 */
import type { ClientInfo, Persona, UsedTool } from './population.js';
import type { Random } from './random.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export type Action =
  | { kind: 'call'; at: number; user: string; server: string; tool: string; args: Record<string, unknown>; client: ClientInfo }
  /** A session open the broker is expected to refuse (403: no grant for the server). */
  | { kind: 'open'; at: number; user: string; server: string; client: ClientInfo }
  /** The person's day ends: their sessions close. */
  | { kind: 'end'; at: number; user: string }
  /** The person asks for (auto-approved) access to the server until `until`. */
  | { kind: 'grant'; at: number; user: string; server: string; until: number };

export interface Period {
  /** A Monday, 00:00 UTC. */
  start: number;
  days: number;
}

export const minuteOf = (at: number) => Math.floor(at / MINUTE) * MINUTE;

/** Local midnight of simulated day `day` for this person, in UTC ms. */
export const localMidnight = (period: Period, person: Persona, day: number) => period.start + day * DAY - person.utcOffsetHours * HOUR;

/** Days 0..4 of each week are Monday to Friday (the period starts on a Monday). */
export const isWorkday = (day: number) => day % 7 < 5;

/** A value of the person's vocabulary for the tool, the first ones most often (a long tail, as real use has). */
function usualValue(random: Random, used: UsedTool): string {
  return used.values[random.weighted(used.values.map((_, i) => 1 / (i + 1)))]!;
}

/** A body of text of about `bytes` bytes. */
export const textOf = (bytes: number) => 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(Math.ceil(bytes / 57)).slice(0, bytes);

/** The arguments of one call of `used`: its kind's argument, from `value` or the person's vocabulary. */
export function callArguments(random: Random, used: Pick<UsedTool, 'spec'> & Partial<UsedTool>, value?: string): Record<string, unknown> {
  const v = value ?? (used.values ? usualValue(random, used as UsedTool) : 'unknown');
  switch (used.spec.argument) {
    case 'text':
      return { title: v, text: textOf(random.int(300, 4000)) };
    case 'query':
      return used.spec.result === 'rows' ? { query: v, limit: random.int(150, 300) } : { query: v };
    case 'id':
      return used.spec.result === 'rows' ? { id: v, limit: random.int(150, 300) } : { id: v };
    case 'path':
      return { path: v };
  }
}

export const call = (person: Persona, at: number, used: { server: string; spec: { name: string } }, args: Record<string, unknown>, client = person.clients[0]!): Action => ({
  kind: 'call',
  at: minuteOf(at),
  user: person.email,
  server: used.server,
  tool: used.spec.name,
  args,
  client,
});

/** One agent task: a burst of calls a few seconds to a minute or two apart, on one server or (a third of them) two. */
function task(random: Random, person: Persona, at: number, client: ClientInfo): Action[] {
  const first = person.repertoire[random.weighted(person.repertoire.map((t) => t.weight))]!;
  const servers = new Set([first.server, ...(random.chance(0.3) ? [random.pick(person.servers)] : [])]);
  const tools = person.repertoire.filter((t) => servers.has(t.server));
  const actions: Action[] = [];
  let time = at;
  for (let n = 1 + random.poisson(person.callsPerTask - 1); n > 0; n--) {
    const used = actions.length === 0 ? first : tools[random.weighted(tools.map((t) => t.weight))]!;
    actions.push(call(person, time, used, callArguments(random, used), client));
    time += random.int(2, 90) * 1000;
  }
  return actions;
}

/**
 * A person's ordinary traffic over the period: on workdays, from a jittered start to a
 * jittered end of their local day, tasks at `tasksPerHour` × `busy(day)`; their first
 * working day starts by trying each of their tools once (how people learn a new setup).
 */
export function ordinaryTraffic(random: Random, person: Persona, period: Period, busy: (day: number) => number): Action[] {
  const actions: Action[] = [];
  let worked = 0;
  for (let day = person.joinsDay; day < period.days; day++) {
    if (!isWorkday(day)) continue;
    const midnight = localMidnight(period, person, day);
    const start = midnight + (person.startHour + random.normal(0, 0.3)) * HOUR;
    const end = midnight + (person.endHour + random.normal(0, 0.4)) * HOUR;
    // Someone with two clients sets both up in their first days, then picks either.
    const client = worked < person.clients.length ? person.clients[worked]! : random.pick(person.clients);
    if (worked++ === 0) person.repertoire.forEach((used, i) => actions.push(call(person, start + i * 20_000, used, callArguments(random, used), client)));
    const tasks = random.poisson(person.tasksPerHour * busy(day) * ((end - start) / HOUR));
    for (let i = 0; i < tasks; i++) actions.push(...task(random, person, start + random.next() * (end - start - 10 * MINUTE), client));
    actions.push({ kind: 'end', at: minuteOf(end) + 10 * MINUTE, user: person.email });
  }
  return actions;
}
