import WebSocket from 'ws';
import { oneLine } from '../cli/output.js';

/** The broker answered the upgrade with an HTTP status instead of 101. */
export class UpgradeRefusal extends Error {
  constructor(
    readonly status: number,
    /** The broker's plain-text reason, one line, bounded. */
    readonly body: string,
  ) {
    super(`HTTP ${status}${body ? `: ${body}` : ''}`);
    this.name = 'UpgradeRefusal';
  }
}

/** A refusal's reason is a sentence; anything longer is not worth a terminal line. */
const MAX_REASON_CHARS = 300;
const HANDSHAKE_TIMEOUT_MS = 10_000;
/** How often the bridge checks the broker is still there (it answers pings with pongs, RFC 6455 §5.5.2). */
const LIVENESS_INTERVAL_MS = 30_000;

/**
 * Opens a WebSocket to a broker MCP endpoint: subprotocol `mcp`, token in the
 * Authorization header (never in the URL). Rejects with an UpgradeRefusal carrying the
 * refusal's status and body, or with the network error.
 */
export function openBrokerSocket(url: string, token: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'mcp', { headers: { authorization: `Bearer ${token}` }, handshakeTimeout: HANDSHAKE_TIMEOUT_MS });
    // Stays attached: once the promise has settled, a later error is followed by 'close', which the caller handles.
    ws.on('error', reject);
    ws.once('open', () => {
      watchLiveness(ws);
      resolve(ws);
    });
    ws.once('unexpected-response', (_request, response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        if (body.length < MAX_REASON_CHARS) body += chunk;
      });
      response.once('close', () => {
        reject(new UpgradeRefusal(response.statusCode ?? 0, oneLine(body.slice(0, MAX_REASON_CHARS)).trim()));
        ws.terminate();
      });
    });
  });
}

/**
 * A half-open connection (a laptop that slept, a changed network) would keep calls waiting
 * until TCP gives up: a ping that gets no pong by the next round cuts the socket, and the
 * bridge reconnects as after any drop.
 */
function watchLiveness(ws: WebSocket): void {
  let answered = true;
  ws.on('pong', () => (answered = true));
  const timer = setInterval(() => {
    // A socket paused for a client not reading stdout reads no pong either: not a dead broker.
    if (!answered && !ws.isPaused) return void ws.terminate();
    answered = false;
    ws.ping();
  }, LIVENESS_INTERVAL_MS);
  timer.unref();
  ws.once('close', () => clearInterval(timer));
}
