import type { ServerResponse } from 'node:http';

/** Past this much unwritten data the client is not reading (as on WebSocket, client-link.ts). */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * Runs `then` once `res` has closed, at once if it already has: a client gone while its
 * request was checked (the credential, the admission) sent its 'close' before anyone
 * listened, and no other will come.
 */
export function whenClosed(res: ServerResponse, then: () => void): void {
  if (res.destroyed) then();
  else res.once('close', then);
}

/** One open `text/event-stream` response (WHATWG HTML §9.2), one JSON-RPC message per event. */
export class SseStream {
  private readonly keepAlive: NodeJS.Timeout;
  private open = true;
  /** Called once, when the stream ends from either side. */
  onclose?: () => void;

  constructor(
    private readonly res: ServerResponse,
    /** A comment line this often keeps proxies and load balancers from closing a quiet stream. */
    keepAliveMs: number,
    private readonly overflow: () => void,
  ) {
    // no-transform and X-Accel-Buffering: a proxy that buffers or compresses would hold events back.
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache, no-transform', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    this.keepAlive = setInterval(() => res.write(': keep-alive\n\n'), keepAliveMs);
    this.keepAlive.unref();
    // On a response already gone the stream is born closed: open, it would keep its session alive for ever.
    whenClosed(res, () => this.closed());
  }

  isOpen(): boolean {
    return this.open;
  }

  /** JSON text never holds a raw line break, so one `data:` line carries the message. */
  event(data: string, id?: number): void {
    if (!this.open) return;
    this.res.write(`${id === undefined ? '' : `id: ${id}\n`}data: ${data}\n\n`);
    if (this.res.writableLength > MAX_BUFFERED_BYTES) this.overflow();
  }

  end(): void {
    if (!this.open) return;
    this.res.end();
    this.closed();
  }

  private closed(): void {
    if (!this.open) return;
    this.open = false;
    clearInterval(this.keepAlive);
    this.onclose?.();
  }
}

/**
 * The events sent on a session's standalone stream, kept so a client that lost the stream
 * can resume it with `Last-Event-ID` (MCP 2025-11-25, basic/transports §Resumability).
 * Bounded in count and bytes: the oldest go first.
 */
export class EventLog {
  private readonly events: { id: number; data: string }[] = [];
  private bytes = 0;
  private lastId = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  append(data: string): number {
    this.events.push({ id: ++this.lastId, data });
    this.bytes += data.length;
    while (this.events.length > this.maxEvents || this.bytes > this.maxBytes) this.bytes -= this.events.shift()!.data.length;
    return this.lastId;
  }

  last(): number {
    return this.lastId;
  }

  /** The kept events after `id` (all kept ones when `id` is older than the oldest). */
  after(id: number): readonly { id: number; data: string }[] {
    const first = this.events.findIndex((e) => e.id > id);
    return first === -1 ? [] : this.events.slice(first);
  }
}
