import { afterEach, describe, expect, it } from 'vitest';
import { ECHO_UPSTREAM } from '../../bench/processes.js';
import { openRawSession } from '../../bench/raw-clients.js';
import type { RawSession } from '../../bench/raw-clients.js';

/** The peers bench counts a call only when its answer is a result: these keep that honest. */
describe('the bench raw client against the minimal echo upstream', () => {
  let session: RawSession | undefined;
  afterEach(async () => {
    await session?.close();
    session = undefined;
  });

  it('initializes and answers calls made concurrently, each to its own request', async () => {
    session = await openRawSession({ transport: 'stdio', ...ECHO_UPSTREAM });
    expect(session.pid).toBeTypeOf('number');
    await expect(Promise.all(Array.from({ length: 20 }, (_, i) => session!.echo(`m${i}`)))).resolves.toHaveLength(20);
  });

  it('rejects a call the server answers with a JSON-RPC error', async () => {
    // A server that accepts initialize and refuses everything else: a refused call must never count as done.
    session = await openRawSession({ transport: 'stdio', command: process.execPath, args: ['-e', 'process.stdin.on("data", (d) => { for (const l of String(d).split("\\n").filter(Boolean)) { const m = JSON.parse(l); if (m.id !== undefined) process.stdout.write(JSON.stringify(m.method === "initialize" ? { jsonrpc: "2.0", id: m.id, result: {} } : { jsonrpc: "2.0", id: m.id, error: { code: -32601, message: "no" } }) + "\\n"); } })'] });
    await expect(session.echo('x')).rejects.toThrow(/JSON-RPC error: no/);
  });
});
