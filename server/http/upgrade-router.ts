import { STATUS_CODES } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { PortcullisError } from '../errors.js';
import { behindClosingAnswer } from './closing-connections.js';
import { bearerChallenge } from './www-authenticate.js';

type Challenge = Parameters<typeof bearerChallenge>[0];

/** An upgrade refused before the handshake, with its HTTP status and the words a person reads. */
export class UpgradeRefused extends Error {
  constructor(
    readonly status: number,
    readonly text: string,
    /** What the Bearer challenge says: for a 401 (null when no credential was presented), and for a refused Bearer credential (400, 403). */
    readonly challenge: Challenge = null,
    /** For a 429: when to try again (RFC 9110 section 10.2.3, in seconds). */
    readonly retryAfterSeconds?: number,
  ) {
    super(text);
  }
}

const STATUS: Partial<Record<PortcullisError['code'], number>> = { UNAUTHENTICATED: 401, FORBIDDEN: 403, LIMIT_EXCEEDED: 429, STORE_UNAVAILABLE: 503 };

/** The one mapping of errors to upgrade refusals: typed errors keep their words; anything else is a bare 500. */
export function refusalOf(error: unknown): UpgradeRefused {
  if (error instanceof UpgradeRefused) return error;
  const status = error instanceof PortcullisError ? STATUS[error.code] : undefined;
  if (status === undefined) return new UpgradeRefused(500, 'internal error');
  const { message } = error as PortcullisError;
  if (status === 503) return new UpgradeRefused(503, 'the broker cannot reach its store: try again shortly');
  return new UpgradeRefused(status, message, status === 401 ? { error: 'invalid_request', description: message } : null);
}

export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Routes WebSocket upgrades to the handler that owns the path (exact paths first, then
 * path prefixes); anything else is refused with a plain HTTP status before any WebSocket
 * handshake happens.
 *
 * Node hands an upgrade's socket over with no `error` listener of its own: a peer that
 * resets the connection while a handler is still deciding (an awaited credential check)
 * would make the next write emit an unhandled `error` and end the process. So the listener
 * is attached here, before any handler and any asynchronous step.
 */
export function createUpgradeRouter(
  routes: Record<string, UpgradeHandler>,
  prefixes: Record<string, UpgradeHandler> = {},
  isShuttingDown: () => boolean = () => false,
): UpgradeHandler {
  return (request, socket, head) => {
    socket.on('error', () => socket.destroy());
    // Pipelined behind an answer that closes the connection: not served (RFC 9112 §9.6). The
    // connection was to close after that answer; node:http no longer manages it, so it ends now.
    if (behindClosingAnswer(socket)) return void socket.destroy();
    if (isShuttingDown()) return refuseUpgrade(socket, new UpgradeRefused(503, 'shutting down'));
    // Matching on the raw path: no URL parsing, which throws on hostile request targets
    // (an exception here would take the whole process down).
    const target = request.url ?? '/';
    const path = target.split('?', 1)[0]!;
    const prefix = Object.keys(prefixes).find((p) => path.startsWith(p));
    const handler = Object.hasOwn(routes, path) ? routes[path] : prefix === undefined ? undefined : prefixes[prefix];
    if (handler) handler(request, socket, head);
    else refuseUpgrade(socket, new UpgradeRefused(404, 'not found'));
  };
}

/**
 * Hands the upgrade to `wss` once `precheck` passes. A precheck throwing a typed error
 * refuses with its HTTP status (401 unauthenticated, 403 forbidden), so a cross-site page
 * never gets a socket at all.
 */
export function upgradeTo(wss: WebSocketServer, precheck: (request: IncomingMessage) => void = () => {}): UpgradeHandler {
  return (request, socket, head) => {
    try {
      precheck(request);
    } catch (error) {
      if (!(error instanceof PortcullisError)) throw error;
      return refuseUpgrade(socket, refusalOf(error));
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  };
}

/**
 * Answers an upgrade with a plain HTTP refusal and closes. A 401 carries its Bearer
 * challenge, as does any refusal of a Bearer credential (RFC 6750 §3: 400 invalid_request
 * and 403 insufficient_scope say why in it too), as on the HTTP edge. A socket the peer
 * already reset or half-closed is just destroyed: writing to it would only raise an error.
 */
export function refuseUpgrade(socket: Duplex, { status, text, challenge, retryAfterSeconds }: UpgradeRefused): void {
  if (socket.destroyed || !socket.writable) return void socket.destroy();
  const body = `${text}\n`;
  const headers = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(status === 401 || challenge !== null ? [`WWW-Authenticate: ${bearerChallenge(challenge)}`] : []),
    ...(retryAfterSeconds === undefined ? [] : [`Retry-After: ${retryAfterSeconds}`]),
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
