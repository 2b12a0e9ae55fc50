/**
 * The simulated people: each with a role, a time zone and working hours, a volume of
 * agent tasks per hour, the servers and tools they use (with their own argument values)
 * and the MCP client(s) they connect with. Deterministic for a seed.
 */
import { isRareTool, ROLES, SERVERS } from './catalog.js';
import type { RoleSpec, ToolSpec } from './catalog.js';
import { Random } from './random.js';

export interface ClientInfo {
  name: string;
  version: string;
}

/** A tool in someone's daily repertoire, with the argument values they use it with. */
export interface UsedTool {
  server: string;
  spec: ToolSpec;
  weight: number;
  values: string[];
}

export interface Persona {
  name: string;
  email: string;
  role: RoleSpec;
  /** Local time = UTC + this. */
  utcOffsetHours: number;
  /** Local working hours, fractional. */
  startHour: number;
  endHour: number;
  /** Agent tasks started per working hour (each a burst of calls). */
  tasksPerHour: number;
  /** Mean calls per task. */
  callsPerTask: number;
  servers: string[];
  repertoire: UsedTool[];
  /** Usually one; some people switch between two. */
  clients: ClientInfo[];
  /** Simulated day of their first call (0 for everyone but a newcomer). */
  joinsDay: number;
}

const CLIENT_NAMES = ['claude-code', 'cursor', 'vscode-copilot', 'goose', 'portcullis-connect'];
const WORDS = ['billing', 'auth', 'search', 'ingest', 'export', 'latency', 'checkout', 'invoice', 'onboarding', 'quota', 'cache', 'retry', 'schema', 'deploy', 'report', 'ledger', 'alerts', 'sync', 'payments', 'profile'];
/** Home offsets of the organisation (Europe and the US East coast); the other-time-zone person is +9. */
const OFFSETS = [0, 0, 1, 1, 1, 2, -5, -5];
export const FAR_OFFSET = 9;

/** A fresh argument value of a kind (ids, paths and queries look like real ones). */
export function argumentValue(random: Random, spec: ToolSpec): string {
  const word = () => random.pick(WORDS);
  switch (spec.argument) {
    case 'id':
      return `${word().toUpperCase().slice(0, 4)}-${random.int(100, 9999)}`;
    case 'path':
      return `src/${word()}/${word()}-${random.int(1, 99)}.ts`;
    case 'query':
    case 'text':
      return `${word()} ${word()} ${random.int(1, 50)}`;
  }
}

/** The tools someone of a role may use day to day: all but the rare ones (exports, admin); analysts export tables daily. */
export function commonTools(role: RoleSpec): { server: string; spec: ToolSpec }[] {
  return role.servers.flatMap((server) => SERVERS[server]!.filter((spec) => !isRareTool(spec) || (role.name === 'analyst' && spec.name === 'export_table')).map((spec) => ({ server, spec })));
}

function persona(random: Random, index: number, role: RoleSpec, utcOffsetHours: number, joinsDay: number): Persona {
  const name = `${role.name}${index}`;
  const servers = random.sample(role.servers, random.int(Math.min(3, role.servers.length), role.servers.length));
  const repertoire = commonTools(role)
    .filter((t) => servers.includes(t.server) && (random.chance(0.6) || t.spec.name === 'export_table'))
    .map(({ server, spec }) => ({ server, spec, weight: 0.2 + random.next() * 3, values: Array.from({ length: random.int(6, 25) }, () => argumentValue(random, spec)) }));
  const startHour = 7 + random.next() * 3;
  const clients = Array.from({ length: random.chance(0.25) ? 2 : 1 }, () => ({ name: random.pick(CLIENT_NAMES), version: `${random.int(1, 3)}.${random.int(0, 9)}.${random.int(0, 20)}` }));
  return {
    name,
    email: `${name}@example.com`,
    role,
    utcOffsetHours,
    startHour,
    endHour: startHour + 7 + random.next() * 3,
    tasksPerHour: 0.4 + random.next() * 2,
    callsPerTask: 3 + random.next() * 8,
    servers: [...new Set(repertoire.map((t) => t.server))],
    repertoire,
    clients: clients[1]?.name === clients[0]!.name ? [clients[0]!] : clients,
    joinsDay,
  };
}

/** Role shares of the organisation: engineers first. */
const ROLE_WEIGHTS = [0.45, 0.2, 0.2, 0.15];

/**
 * `count` people (at least 4: one per role); the last one joins on `newcomerDay` (a new
 * team member), the one before works from a far time zone.
 */
export function population(seed: number, count: number, newcomerDay: number): Persona[] {
  const random = new Random(seed);
  const people = Array.from({ length: count }, (_, i) => {
    const role = i < ROLES.length ? ROLES[i]! : ROLES[random.weighted(ROLE_WEIGHTS)]!;
    const offset = i === count - 2 ? FAR_OFFSET : random.pick(OFFSETS);
    return persona(random, i + 1, role, offset, i === count - 1 ? newcomerDay : 0);
  });
  // A newcomer learns the team's tools: what their role's people use already (else the
  // look-alike would be a first use by the role, a real finding).
  const newcomer = people.at(-1)!;
  const teamTools = new Set(people.filter((p) => p !== newcomer && p.role === newcomer.role).flatMap((p) => p.repertoire.map((t) => `${t.server}/${t.spec.name}`)));
  newcomer.repertoire = newcomer.repertoire.filter((t) => teamTools.has(`${t.server}/${t.spec.name}`));
  newcomer.servers = [...new Set(newcomer.repertoire.map((t) => t.server))];
  return people;
}
