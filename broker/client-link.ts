import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { errorReply, INVALID_REQUEST } from './jsonrpc.js';
import { coalesceWrites } from './turn-writes.js';

/** Past this much unsent data the client is not reading: it is cut off, others are unaffected. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * Close codes after open (DESIGN.md): 4403 when access ends, by a grant's end or an anomaly's
 * suspension (the reason says which); 1011 when the session cannot go on for a failure on
 * our side, an upstream's or the broker's own store (the reason says which).
 */
export const CLOSE = { goingAway: 1001, protocolError: 1002, policy: 1008, tooLarge: 1009, upstreamFailed: 1011, brokerUnavailable: 1011, credentialEnded: 4401, grantEnded: 4403, suspended: 4403 } as const;

/**
 * The client side of a broker session: text frames in, JSON out, with a bounded send
 * buffer. Binary frames are answered as invalid; protocol violations (an oversized frame)
 * have already been answered by ws with their close code.
 */
export class ClientLink {
  private readonly idle: NodeJS.Timeout;

  constructor(
    private readonly ws: WebSocket,
    /** The connection under `ws`: corked for the rest of the turn when a frame goes out. */
    private readonly socket: Duplex,
    handlers: { frame: (text: string) => void; gone: (code: number, reason: string) => void },
    idleTimeoutMs: number,
  ) {
    // A session nobody uses still holds an upstream process: end it after the idle time.
    this.idle = setTimeout(() => handlers.gone(1000, 'idle timeout'), idleTimeoutMs);
    this.idle.unref();
    ws.on('message', (data, isBinary) => {
      this.idle.refresh();
      if (isBinary) this.send(errorReply(null, INVALID_REQUEST, 'Invalid Request: binary frames are not JSON-RPC'));
      else handlers.frame(data.toString());
    });
    ws.on('close', (code) => handlers.gone(code, 'client closed'));
    ws.on('error', (error: Error & { code?: string }) =>
      handlers.gone(error.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH' ? CLOSE.tooLarge : CLOSE.protocolError, error.message),
    );
    this.overflow = () => handlers.gone(CLOSE.policy, 'client is not reading (send buffer full)');
  }

  private readonly overflow: () => void;

  send(message: object): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    // Traffic either way is use: a long call's progress, a server's request of the client.
    this.idle.refresh();
    coalesceWrites(this.socket);
    this.ws.send(JSON.stringify(message));
    if (this.ws.bufferedAmount > MAX_BUFFERED_BYTES) this.overflow();
  }

  close(code: number, reason: string): void {
    clearTimeout(this.idle);
    if (this.ws.readyState === this.ws.OPEN) this.ws.close(code, closeReason(reason));
  }
}

/** RFC 6455 §5.5: a close frame's reason is at most 123 bytes of UTF-8 (ws throws beyond). */
export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let cut = reason.slice(0, 122);
  while (Buffer.byteLength(`${cut}…`) > 123) cut = cut.slice(0, -1);
  return `${cut}…`;
}
