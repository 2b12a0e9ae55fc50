/**
 * The detector engine's CPU per event, on its own: an embedded log filled with calls of
 * many users, then one detector reading it from the start, once with a trivial rule (the
 * engine's own cost: observe, entity cache and state, commits) and once with the shipped
 * rules. Run: `node --import tsx bench/detector-cpu.ts [events]`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configSchema } from '../server/config/schema.js';
import { startDetector } from '../server/detection/detector.js';
import { createRules } from '../server/detection/rules/index.js';
import type { AnomalyRaiser, DetectionRule } from '../server/detection/types.js';
import { createLogger, logScrubber } from '../server/log.js';
import { createEmbeddedStores } from '../server/stores/embedded/index.js';
import type { Stores } from '../server/stores/types.js';

const EVENTS = Number(process.argv[2] ?? 100_000);
const USERS = 500;
const TOOLS = 20;
const BATCH = 500;

/** Counts calls in the user's state and finds nothing: what the engine costs around a rule. */
const counting: DetectionRule = {
  id: 'breadth',
  evaluate(observation, context) {
    const slot = (context.user.slots.breadth ??= { calls: 0 }) as { calls: number };
    slot.calls++;
    return null;
  },
};

const raiser: AnomalyRaiser = { isSuppressed: async () => false, raise: async () => {} };

class StepClock {
  constructor(private current = Date.UTC(2026, 10, 1)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}

async function fill(stores: Stores, clock: StepClock): Promise<void> {
  for (let i = 0; i < EVENTS; i += BATCH) {
    const appends = [];
    for (let j = i; j < Math.min(i + BATCH, EVENTS); j++) {
      const user = `user${j % USERS}@example.com`;
      const tool = `tool${(j * 7) % TOOLS}`;
      appends.push(stores.audit.append({ type: 'mcp.request', outcome: 'SUCCESS', actor: user, server: 'everything', tool, sessionId: `s-${j % USERS}`, data: { method: 'tools/call', id: j, params: { name: tool, arguments: { path: `/data/${j % 97}` } }, grantId: null }, bounded: ['params'] }));
      clock.advance(50);
    }
    await Promise.all(appends);
  }
}

async function measure(name: string, rules: readonly DetectionRule[]): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-detector-bench-'));
  const clock = new StepClock();
  const stores = await createEmbeddedStores({ dataDir, clock });
  await fill(stores, clock);
  const config = configSchema.parse({ server: { publicUrl: 'http://127.0.0.1:8080' }, store: { dataDir } });
  const logger = createLogger({ level: 'warn', scrubber: logScrubber() });
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const detector = startDetector({ config, audit: stores.audit, state: stores.detector, access: stores.access, rules, raiser, clock, logger });
  while (detector.stats.events < EVENTS) await new Promise((resolve) => setTimeout(resolve, 20));
  const wallMs = performance.now() - wallBefore;
  const cpu = process.cpuUsage(cpuBefore);
  await detector.stop();
  const [user, tool] = [...(await stores.detector.load(['user:user0@example.com', 'tool:everything/tool0'])).values()];
  const slotBytes = (state: typeof user) => Object.entries(state?.slots ?? {}).map(([rule, slot]) => `${rule} ${JSON.stringify(slot).length}`).join(', ');
  process.stdout.write(`${name}: state as JSON: a user ${JSON.stringify(user).length} B (${slotBytes(user)}); a tool ${JSON.stringify(tool).length} B (${slotBytes(tool)})\n`);
  await stores.close();
  rmSync(dataDir, { recursive: true, force: true });
  const { events, evaluationMs } = detector.stats;
  process.stdout.write(
    `${name}: ${events} events in ${wallMs.toFixed(0)} ms; evaluation ${((evaluationMs * 1000) / events).toFixed(2)} µs/event; whole process CPU (log reading, state commits included) ${((cpu.user + cpu.system) / events).toFixed(2)} µs/event\n`,
  );
}

if (process.env.ONLY !== 'shipped') await measure('trivial rule', [counting]);
await measure('shipped rules', createRules(configSchema.parse({ server: { publicUrl: 'http://127.0.0.1:8080' }, store: { dataDir: tmpdir() } }).detection));
