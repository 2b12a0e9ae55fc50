import type { AddressInfo } from 'node:net';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { runBridge } from '../../clients/mcp/stdio-bridge.js';

/** Stands for a broker: a WebSocket server on loopback speaking `mcp`, handing over each connection in turn. */
async function fakeBroker(): Promise<{ url: string; connected: () => Promise<WebSocket>; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: () => 'mcp' });
  await new Promise((resolve) => wss.once('listening', resolve));
  const sockets: WebSocket[] = [];
  const waiting: ((socket: WebSocket) => void)[] = [];
  wss.on('connection', (socket) => (waiting.shift() ?? ((s: WebSocket) => sockets.push(s)))(socket));
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/mcp/ws/echo`,
    connected: () => (sockets.length > 0 ? Promise.resolve(sockets.shift()!) : new Promise((resolve) => waiting.push(resolve))),
    close: () => {
      for (const client of wss.clients) client.terminate();
      return new Promise((resolve) => wss.close(() => resolve()));
    },
  };
}

/** The MCP client's end of stdout: takes lines while it reads, and holds the pipe full while it stalls. */
class ClientStdout extends Writable {
  readonly lines: string[] = [];
  stalled = true;
  private held: (() => void) | undefined;

  constructor() {
    super({ highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.lines.push(...chunk.toString().split('\n').filter(Boolean));
    if (this.stalled) this.held = done;
    else done();
  }

  read(): void {
    this.stalled = false;
    const held = this.held;
    this.held = undefined;
    held?.();
  }
}

const NOTIFICATION_BYTES = 256 * 1024;
const NOTIFICATIONS = 160;
const notification = (n: number) => JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: `${n}:${'x'.repeat(NOTIFICATION_BYTES)}` } });

describe('portcullis connect (the stdio bridge) against a broker flooding a client that does not read', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function bridged() {
    const broker = await fakeBroker();
    const input = new PassThrough();
    const output = new ClientStdout();
    const reports: string[] = [];
    const running = runBridge({ server: 'echo', credentials: () => ({ url: broker.url, token: 'test-token' }), input, output, report: (line) => reports.push(line) });
    cleanups.push(broker.close, async () => {
      input.end();
      output.read();
      await running.catch(() => {});
    });
    const socket = await broker.connected();
    // Once the bridge relays a client request, it is reading the socket: what the broker sends now reaches it.
    const relayed = new Promise((resolve) => socket.once('message', resolve));
    input.write('{"jsonrpc":"2.0","id":1,"method":"ping"}\n');
    await relayed;
    return { socket, output, reports, broker };
  }

  it('stops reading the socket while stdout is full, so what waits stays at the broker (which closes a client not reading), and loses nothing once read', async () => {
    const { socket, output } = await bridged();
    for (let n = 0; n < NOTIFICATIONS; n++) socket.send(notification(n));
    const sent = NOTIFICATIONS * NOTIFICATION_BYTES;
    // The broker's send buffer empties only as far as the bridge reads.
    await expect.poll(() => socket.bufferedAmount, { timeout: 10_000 }).toBeLessThan(sent);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(socket.bufferedAmount).toBeGreaterThan(sent / 2);
    expect(output.writableLength).toBeLessThan(8 * 1024 * 1024);

    output.read();
    await expect.poll(() => output.lines.length, { timeout: 20_000 }).toBe(NOTIFICATIONS);
    expect(output.lines.map((line) => (JSON.parse(line) as { params: { data: string } }).params.data.split(':')[0])).toEqual(Array.from({ length: NOTIFICATIONS }, (_, n) => String(n)));
    expect(socket.bufferedAmount).toBe(0);
  });

  it('keeps a connection opened while stdout is still full paused from the start, with one drain listener whatever the reconnects', async () => {
    const { socket, output, broker } = await bridged();
    const listeners = output.listenerCount('drain');
    // The client has not read what came before (here: written straight to its stdout).
    output.write('x'.repeat(1024 * 1024));
    expect(output.writableNeedDrain).toBe(true);
    socket.close(1011, 'upstream failed');
    const next = await broker.connected();
    for (let n = 0; n < NOTIFICATIONS / 4; n++) next.send(notification(n));
    const sent = (NOTIFICATIONS / 4) * NOTIFICATION_BYTES;
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(next.bufferedAmount).toBeGreaterThan(sent / 2);
    // Nothing of the new connection's was written: only what was there, and the error that answered the call the drop cut off.
    expect(output.writableLength).toBeLessThan(1024 * 1024 + 1024);
    expect(output.listenerCount('drain')).toBe(listeners);

    output.read();
    await expect.poll(() => output.lines.filter((line) => line.includes('notifications/message')).length, { timeout: 20_000 }).toBe(NOTIFICATIONS / 4);
    expect(next.bufferedAmount).toBe(0);
  });

  it('ignores a frame that is JSON but not a message (null, a number) with one line on stderr, and relays the next', async () => {
    const { socket, output, reports } = await bridged();
    output.read();
    socket.send('null');
    socket.send('42');
    socket.send(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'after' } }));
    await expect.poll(() => output.lines).toEqual([expect.stringContaining('"after"')]);
    expect(reports.filter((line) => line.includes('not a JSON-RPC message'))).toHaveLength(2);
  });
});
