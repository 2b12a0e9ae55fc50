import { afterEach, describe, expect, it } from 'vitest';
import { MAX_LINE_BYTES, StdioUpstream } from '../../broker/upstreams/stdio.js';
import { captureLogs } from '../support/log-capture.js';

/**
 * Review: each read of a stdio upstream's stdout (64 KiB at most) was appended to the
 * line read so far and that was searched again from its start for a newline, so one long
 * line took time in the square of its length (an 8 MB one blocked the event loop for
 * about a quarter of a second). Only the new chunk is searched now: these check that
 * lines still come out whole however the chunks fall, and that the cap still holds.
 */

/** A child running `body` (an async function body with `write` and `pause`). */
const script = (body: string) =>
  [
    'const write = (data) => new Promise((resolve) => process.stdout.write(data, resolve));',
    // Writes a pause apart reach the broker as reads of their own.
    'const pause = () => new Promise((resolve) => setTimeout(resolve, 50));',
    `(async () => { ${body} })();`,
  ].join('\n');

describe("a stdio upstream's stdout, split into lines", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function run(body: string) {
    const logs = captureLogs();
    const upstream = new StdioUpstream(
      { name: 'lines', transport: 'stdio', command: process.execPath, args: ['-e', script(body)], env: {}, readOnlyTools: [], allowMethods: [], toolPinning: 'pin' },
      { baseDir: process.cwd(), logger: logs.logger, scrubber: logs.scrubber },
    );
    const received: { message: unknown; bytes: number }[] = [];
    const closed: string[] = [];
    upstream.onmessage = (message, bytes) => void received.push({ message, bytes });
    upstream.onclose = (reason) => void closed.push(reason);
    cleanups.push(() => upstream.close());
    await upstream.start();
    return { received, closed, logs };
  }

  const note = (method: string, params?: unknown) => ({ jsonrpc: '2.0', method, ...(params === undefined ? {} : { params }) });
  const as = (message: object) => ({ message, bytes: Buffer.byteLength(JSON.stringify(message)) });

  it('hands over each line whole: one over many reads, several in one, one ending where a read ends, characters split between reads', async () => {
    // 1.2 MB of 3-, 4- and 1-byte characters: the 64 KiB reads cut through some of them.
    const big = note('big', { text: '€😀a'.repeat(150_000) });
    const { received, closed, logs } = await run(`
      await write(JSON.stringify({ jsonrpc: '2.0', method: 'big', params: { text: '€😀a'.repeat(150000) } }) + '\\n');
      await pause();
      await write('{"jsonrpc":"2.0","method":"one"}\\n{"jsonrpc":"2.0","method":"two"}\\n\\nnot json\\n  {"jsonrpc":"2.0","method":"three"}\\r\\n{"jsonrpc":"2.0",');
      await pause();
      await write('"method":"four"}\\n');
      await pause();
      const euro = Buffer.from('{"jsonrpc":"2.0","method":"€"}\\n');
      const at = euro.indexOf(Buffer.from('€')) + 1;
      await write(euro.subarray(0, at));
      await pause();
      await write(euro.subarray(at, at + 1));
      await pause();
      await write(euro.subarray(at + 1));
      await write('{"jsonrpc":"2.0","method":"last"}\\n');
    `);
    await expect.poll(() => received.length).toBe(7);
    expect(received).toEqual([as(big), as(note('one')), as(note('two')), as(note('three')), as(note('four')), as(note('€')), as(note('last'))]);
    expect(logs.lines.filter((line) => line.includes('upstream wrote a line that is not JSON'))).toHaveLength(1);
    await expect.poll(() => closed).toEqual(['upstream exited (code 0)']);
  });

  it(`takes a line of ${MAX_LINE_BYTES} bytes with its newline and ends the session at the first byte past that, counting bytes, not characters`, async () => {
    const { received, closed } = await run(`
      const prefix = '{"jsonrpc":"2.0","method":"full","params":{"text":"';
      await write(prefix + 'x'.repeat(${MAX_LINE_BYTES} - prefix.length - 4) + '"}}\\n');
      await pause();
      // Fewer characters than the cap, more bytes; no newline: the cap holds before one comes.
      await write('€'.repeat(${Math.floor(MAX_LINE_BYTES / 3) + 1}));
      setInterval(() => {}, 1000);
    `);
    await expect.poll(() => closed).toEqual(['upstream sent an oversized message']);
    expect(received.map((r) => [(r.message as { method: string }).method, r.bytes])).toEqual([['full', MAX_LINE_BYTES - 1]]);
  });
});
