/**
 * The labelled incidents injected into the evaluation days, several per rule, each placed
 * in a free slot of someone's working day (off-hours ones at night), with the label the
 * scorer matches alerts against.
 */
import type { RuleId } from '../../server/detection/types.js';
import { ROLES, SERVER_NAMES, SERVERS, isDenied } from './catalog.js';
import type { ToolSpec } from './catalog.js';
import { argumentValue, commonTools } from './population.js';
import type { Persona } from './population.js';
import type { Random } from './random.js';
import type { Label } from './scoring.js';
import { call, callArguments, HOUR, isWorkday, localMidnight, MINUTE, textOf } from './traffic.js';
import type { Action, Period } from './traffic.js';

export const LARGE_PARAMS_BYTES = 300 * 1024;
/** An export this many rows long (about 770 KB) against the usual 150 to 300. */
const LARGE_EXPORT_ROWS = 3000;

interface Context {
  random: Random;
  /** `<server>/<tool>` someone of the role uses daily. */
  teamTools: Map<string, Set<string>>;
  /** `<role>:<server>/<tool>` already used by an incident: a role's first use happens once. */
  firstUsedByRole: Set<string>;
}

interface Maker {
  name: string;
  rules: RuleId[];
  tolerated: RuleId[];
  /** The tools this person could do it with; empty: they cannot (the slot goes to someone else). */
  candidates(person: Persona, context: Context): { server: string; spec: ToolSpec }[];
  /** The calls, from `at` on. */
  make(person: Persona, at: number, tool: { server: string; spec: ToolSpec }, context: Context): Action[];
}

const key = (t: { server: string; spec: ToolSpec }) => `${t.server}/${t.spec.name}`;
const own = (person: Persona) => person.repertoire;
const roleTools = (person: Persona) => commonTools(person.role);
/** `count` calls of `make(i)`, `gapMs` apart from `at`. */
const burst = (count: number, at: number, gapMs: number, make: (i: number, at: number) => Action) => Array.from({ length: count }, (_, i) => make(i, at + i * gapMs));

const MAKERS: Maker[] = [
  {
    name: 'first use of a tool by the user',
    rules: ['first_use_by_user'],
    tolerated: [],
    candidates: (p, c) => roleTools(p).filter((t) => c.teamTools.get(p.role.name)!.has(key(t)) && !own(p).some((o) => key(o) === key(t))),
    make: (p, at, tool, c) => burst(3, at, MINUTE, (_, t) => call(p, t, tool, callArguments(c.random, tool, argumentValue(c.random, tool.spec)))),
  },
  {
    name: 'first use of an export by anyone in the role',
    rules: ['first_use_by_role', 'first_use_by_user'],
    tolerated: ['large_payload'],
    candidates: (p, c) => p.role.servers.flatMap((server) => SERVERS[server]!.filter((spec) => spec.result === 'rows' && !c.teamTools.get(p.role.name)!.has(`${server}/${spec.name}`) && !c.firstUsedByRole.has(`${p.role.name}:${server}/${spec.name}`)).map((spec) => ({ server, spec }))),
    make: (p, at, tool, c) => {
      c.firstUsedByRole.add(`${p.role.name}:${key(tool)}`);
      return burst(2, at, 2 * MINUTE, (_, t) => call(p, t, tool, callArguments(c.random, tool, argumentValue(c.random, tool.spec))));
    },
  },
  {
    name: 'rate spike (120 usual calls in 10 minutes)',
    rules: ['rate_spike'],
    tolerated: ['breadth'],
    candidates: (p) => own(p),
    make: (p, at, _tool, c) => burst(120, at, 5_000, (_, t) => {
      const used = c.random.pick(own(p));
      return call(p, t, used, callArguments(c.random, used));
    }),
  },
  {
    name: 'probing (admin tools refused, servers outside the role refused)',
    rules: ['probing'],
    tolerated: ['breadth', 'first_use_by_user', 'first_use_by_role'],
    candidates: (p) => p.role.servers.flatMap((server) => SERVERS[server]!.filter((spec) => isDenied(spec.name)).map((spec) => ({ server, spec }))),
    make: (p, at, _tool, c) => {
      const denied = p.role.servers.flatMap((server) => SERVERS[server]!.filter((spec) => isDenied(spec.name)).map((spec) => ({ server, spec })));
      const outside = SERVER_NAMES.filter((s) => !p.role.servers.includes(s));
      return [
        ...burst(10, at, 15_000, (_, t) => {
          const tool = c.random.pick(denied);
          return call(p, t, tool, callArguments(c.random, tool, argumentValue(c.random, tool.spec)));
        }),
        ...outside.slice(0, 4).map((server, i): Action => ({ kind: 'open', at: at + (3 + i) * MINUTE, user: p.email, server, client: p.clients[0]! })),
      ];
    },
  },
  {
    // An agent going through what its grants reach: every role reaches 21 or more tools.
    name: 'breadth: 20 distinct tools in 7 minutes',
    rules: ['breadth'],
    tolerated: ['first_use_by_user', 'first_use_by_role'],
    candidates: (p) => (roleTools(p).length >= 20 ? roleTools(p) : []),
    make: (p, at, _tool, c) => c.random.sample(roleTools(p), 20).map((tool, i) => call(p, at + Math.floor(i / 3) * MINUTE, tool, callArguments(c.random, tool, argumentValue(c.random, tool.spec)))),
  },
  {
    name: 'breadth: 80 distinct ids of one tool in 8 minutes (enumeration)',
    rules: ['breadth'],
    tolerated: ['rate_spike', 'first_use_by_user'],
    candidates: (p) => own(p).filter((t) => t.spec.argument === 'id' && t.spec.result === 'small'),
    make: (p, at, tool) => burst(80, at, 6_000, (i, t) => call(p, t, tool, { id: `${tool.spec.name.toUpperCase().slice(0, 4)}-${10_000 + i}` })),
  },
  {
    name: 'off hours (12 calls at 02:30 local)',
    rules: ['off_hours'],
    tolerated: [],
    candidates: (p) => own(p),
    make: (p, at, _tool, c) => burst(12, at, 3 * MINUTE, (_, t) => {
      const used = c.random.pick(own(p));
      return call(p, t, used, callArguments(c.random, used));
    }),
  },
  {
    name: 'large parameters (300 KB written)',
    rules: ['large_payload'],
    tolerated: ['first_use_by_user'],
    candidates: (p) => roleTools(p).filter((t) => t.spec.argument === 'text'),
    make: (p, at, tool, c) => [call(p, at, tool, { title: argumentValue(c.random, tool.spec), text: textOf(LARGE_PARAMS_BYTES) })],
  },
  {
    name: 'large result (an export 10x the usual, or an archive read)',
    rules: ['large_payload'],
    tolerated: ['first_use_by_user'],
    candidates: (p) => [...own(p).filter((t) => t.spec.name === 'export_table'), ...roleTools(p).filter((t) => t.spec.name === 'read_file')],
    make: (p, at, tool) => [call(p, at, tool, tool.spec.result === 'rows' ? { id: 'customers', limit: LARGE_EXPORT_ROWS } : { path: 'backups/customers-full.tar' })],
  },
  {
    name: 'new MCP client',
    rules: ['new_client'],
    tolerated: [],
    candidates: (p) => own(p),
    make: (p, at, _tool, c) => {
      const client = { name: c.random.pick(['mcp-inspector', 'python-mcp-script', 'n8n-mcp-client']), version: '0.9.1' };
      return burst(6, at, MINUTE, (_, t) => {
        const used = c.random.pick(own(p));
        return call(p, t, used, callArguments(c.random, used), client);
      });
    },
  },
];

interface Slot {
  person: Persona;
  day: number;
  /** The slot's start, UTC ms. */
  at: number;
}

/** Free hours in the evaluation days of everyone who can carry an incident, spread: the first hour of every day and person first. */
function slots(people: readonly Persona[], period: Period, evalDays: readonly number[]): Slot[] {
  const all: (Slot & { order: number })[] = [];
  for (const [index, person] of people.entries()) {
    for (const day of evalDays) {
      for (let k = 0; k < 4; k++) {
        const hour = person.startHour + 1 + k * 1.6;
        if (hour < person.endHour - 1) all.push({ person, day, at: localMidnight(period, person, day) + hour * HOUR, order: (k * evalDays.length + evalDays.indexOf(day)) * people.length + index });
      }
    }
  }
  return all.sort((a, b) => a.order - b.order);
}

/**
 * `rounds` incidents of each kind, in the evaluation days (workdays from `evalStart`),
 * carried by `carriers` (never the same slot twice; an off-hours incident takes the night
 * before its slot's day).
 */
export function injectIncidents(random: Random, people: readonly Persona[], carriers: readonly Persona[], period: Period, evalStart: number, rounds: number): { actions: Action[]; labels: Label[] } {
  const evalDays = Array.from({ length: period.days - evalStart }, (_, i) => evalStart + i).filter(isWorkday);
  const teamTools = new Map(ROLES.map((role) => [role.name, new Set(people.filter((p) => p.role === role).flatMap((p) => p.repertoire.map(key)))]));
  const context: Context = { random, teamTools, firstUsedByRole: new Set() };
  const free = slots(carriers, period, evalDays);
  const actions: Action[] = [];
  const labels: Label[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const maker of MAKERS) {
      const index = free.findIndex((s) => maker.candidates(s.person, context).length > 0);
      if (index < 0) throw new Error(`no slot left for "${maker.name}": more people or evaluation days are needed`);
      const [slot] = free.splice(index, 1) as [Slot];
      const at = maker.rules.includes('off_hours') ? localMidnight(period, slot.person, slot.day) + 2.5 * HOUR : slot.at;
      const made = maker.make(slot.person, at, random.pick(maker.candidates(slot.person, context)), context);
      actions.push(...made);
      labels.push({ name: maker.name, kind: 'incident', user: slot.person.email, rules: maker.rules, tolerated: maker.tolerated, from: Math.min(...made.map((a) => a.at)), to: Math.max(...made.map((a) => a.at)) });
    }
  }
  return { actions, labels };
}
