/**
 * One broker instance in its own process, so its CPU time and heap are its own. The
 * parent sends the raw config once; the child answers `ready` with its port, then `cpu`
 * with its CPU time so far, `heap` with its heap after a full collection (run it with
 * --expose-gc; kept apart from `cpu` so a collection never lands in a timed window),
 * `profile-start`/`profile-stop` by sampling its main thread into a .cpuprofile file
 * (only the timed window, not start-up or setup), and exits on `stop`.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as ClockModule from '../server/clock.js';
import type * as ConfigModule from '../server/config/schema.js';
import type * as ServerModule from '../server/http/server.js';
import type * as LogModule from '../server/log.js';
import type * as StoresModule from '../server/stores/index.js';

/**
 * The broker runs from the compiled tree (`dist/` of the checkout given as the first
 * argument), as `npm start` runs it, so the bench measures and profiles the code users run:
 * under tsx the sources carry esbuild's `keepNames` helper, which names every closure as
 * it is made (in an interleaved run the difference was within noise). Types come from the
 * sources.
 */
const dist = process.argv[2];
if (!dist) throw new Error('usage: broker-process.ts <dist directory of the checkout to run>');
const compiled = <T>(path: string) => import(pathToFileURL(join(dist, path)).href) as Promise<T>;
const { systemClock } = await compiled<typeof ClockModule>('server/clock.js');
const { configSchema } = await compiled<typeof ConfigModule>('server/config/schema.js');
const { createPortcullisServer } = await compiled<typeof ServerModule>('server/http/server.js');
const { createLogger, logScrubber } = await compiled<typeof LogModule>('server/log.js');
const { createStores } = await compiled<typeof StoresModule>('server/stores/index.js');

export type BrokerRequest =
  | { type: 'start'; config: unknown }
  | { type: 'cpu' }
  | { type: 'heap' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string }
  | { type: 'stop' };
export type BrokerReply =
  | { type: 'ready'; port: number }
  | { type: 'cpu'; user: number; system: number }
  | { type: 'heap'; heapUsed: number; rss: number }
  | { type: 'profiling' }
  | { type: 'profiled' }
  | { type: 'failed'; error: string };

const reply = (message: BrokerReply) => process.send?.(message);

async function start(raw: unknown): Promise<void> {
  const config = configSchema.parse(raw);
  const clock = systemClock;
  const baseDir = process.cwd();
  const stores = await createStores(config, { clock, baseDir });
  await stores.waitReady();
  const scrubber = logScrubber();
  const logger = createLogger({ level: config.logging.level, scrubber });
  const server = await createPortcullisServer({ config, stores, logger, scrubber, clock, baseDir });
  const { port } = await server.listen();
  const profiler = new Session();
  process.on('message', (message: BrokerRequest) => {
    if (message.type === 'cpu') reply({ type: 'cpu', ...process.cpuUsage() });
    if (message.type === 'heap') reply(heap());
    if (message.type === 'profile-start') void startProfile(profiler).then(() => reply({ type: 'profiling' }));
    if (message.type === 'profile-stop') void stopProfile(profiler, message.file).then(() => reply({ type: 'profiled' }));
    if (message.type === 'stop') void server.close().then(() => stores.close()).finally(() => process.exit(0));
  });
  reply({ type: 'ready', port });
}

async function startProfile(profiler: Session): Promise<void> {
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.setSamplingInterval', { interval: 100 });
  await profiler.post('Profiler.start');
}

async function stopProfile(profiler: Session, file: string): Promise<void> {
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  writeFileSync(file, JSON.stringify(profile));
}

function heap(): BrokerReply {
  // Twice: the first pass can leave garbage that finalizers free for the second.
  globalThis.gc?.();
  globalThis.gc?.();
  const memory = process.memoryUsage();
  return { type: 'heap', heapUsed: memory.heapUsed, rss: memory.rss };
}

// A parent that died (Ctrl-C, a crash) must not leave brokers behind.
process.once('disconnect', () => process.exit(1));

process.once('message', (message: BrokerRequest) => {
  if (message.type !== 'start') return;
  start(message.config).catch((error: unknown) => {
    reply({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  });
});
