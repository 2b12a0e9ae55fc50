/**
 * A load generator in its own process (peers scenario): one process of clients saturates
 * a core before a cheap relay does, so the runner spreads the load over a few of these.
 * It opens its sessions (`open`: per target, one endpoint per session), reports the pids
 * of the processes it spawned (stdio sessions: the stdio bridge, or the bare upstream),
 * then runs closed-loop load on one target at a time (`run`) and reports the calls done
 * and its own CPU time.
 */
import { callLoop } from './load.js';
import { openRawSession } from './raw-clients.js';
import type { Endpoint, RawSession } from './raw-clients.js';

export type WorkerRequest =
  | { type: 'open'; targets: Record<string, Endpoint[]>; inFlight: number }
  | { type: 'run'; target: string; seconds: number }
  | { type: 'close' };
export type WorkerReply =
  | { type: 'opened'; pids: Record<string, number[]> }
  | { type: 'ran'; calls: number; seconds: number; cpuMicros: number }
  | { type: 'failed'; error: string };

const reply = (message: WorkerReply) => process.send?.(message);
const sessions = new Map<string, RawSession[]>();
let inFlight = 1;

async function handle(message: WorkerRequest): Promise<void> {
  if (message.type === 'open') {
    inFlight = message.inFlight;
    const pids: Record<string, number[]> = {};
    for (const [target, endpoints] of Object.entries(message.targets)) {
      const opened: RawSession[] = [];
      // One at a time: each stdio session spawns a process, and a burst would only queue on two cores.
      for (const endpoint of endpoints) opened.push(await openRawSession(endpoint, inFlight));
      sessions.set(target, opened);
      pids[target] = opened.flatMap((s) => (s.pid === undefined ? [] : [s.pid]));
    }
    reply({ type: 'opened', pids });
  } else if (message.type === 'run') {
    const before = process.cpuUsage();
    const result = await callLoop(sessions.get(message.target)!, (session, tag) => session.echo(tag), inFlight, message.seconds);
    const cpu = process.cpuUsage(before);
    reply({ type: 'ran', calls: result.calls, seconds: result.seconds, cpuMicros: cpu.user + cpu.system });
  } else {
    await Promise.all([...sessions.values()].flat().map((s) => s.close()));
    process.exit(0);
  }
}

process.once('disconnect', () => process.exit(1));
process.on('message', (message: WorkerRequest) => {
  handle(message).catch((error: unknown) => {
    reply({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  });
});
