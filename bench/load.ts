import { randomUUID } from 'node:crypto';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { echo } from './mcp-clients.js';

export interface LoadResult {
  calls: number;
  seconds: number;
  callsPerSecond: number;
}

/**
 * Closed-loop load: each client keeps `inFlight` echo calls outstanding until `seconds`
 * have passed; only calls that complete count. Each call's message is a tag unique in the
 * run, handed to `onSend` just before it goes out (the audit scenario follows it).
 */
export function closedLoop(clients: readonly Client[], inFlight: number, seconds: number, onSend?: (tag: string) => void): Promise<LoadResult> {
  return callLoop(clients, echo, inFlight, seconds, onSend);
}

/** The same closed loop over any kind of client, with `call` making one echo call. */
export async function callLoop<C>(clients: readonly C[], call: (client: C, message: string) => Promise<void>, inFlight: number, seconds: number, onSend?: (tag: string) => void): Promise<LoadResult> {
  const start = performance.now();
  const deadline = start + seconds * 1000;
  const run = randomUUID().slice(0, 8);
  let calls = 0;
  const worker = async (client: C, name: string) => {
    for (let seq = 0; performance.now() < deadline; seq++) {
      const tag = `${run}.${name}.${seq}`;
      onSend?.(tag);
      await call(client, tag);
      calls++;
    }
  };
  await Promise.all(clients.flatMap((client, c) => Array.from({ length: inFlight }, (_, w) => worker(client, `${c}.${w}`))));
  const elapsed = (performance.now() - start) / 1000;
  return { calls, seconds: elapsed, callsPerSecond: calls / elapsed };
}
