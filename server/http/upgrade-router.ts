import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { PortcullisError } from '../errors.js';

export type UpgradeHandler = (request: IncomingMessage, socket: Duplex, head: Buffer) => void;

/**
 * Routes WebSocket upgrades to the handler that owns the path (exact paths first, then
 * path prefixes); anything else is refused with a plain HTTP status before any WebSocket
 * handshake happens.
 */
export function createUpgradeRouter(routes: Record<string, UpgradeHandler>, prefixes: Record<string, UpgradeHandler> = {}): UpgradeHandler {
  return (request, socket, head) => {
    // Matching on the raw path: no URL parsing, which throws on hostile request targets
    // (an exception here would take the whole process down).
    const target = request.url ?? '/';
    const path = target.split('?', 1)[0]!;
    const prefix = Object.keys(prefixes).find((p) => path.startsWith(p));
    const handler = Object.hasOwn(routes, path) ? routes[path] : prefix === undefined ? undefined : prefixes[prefix];
    if (handler) handler(request, socket, head);
    else refuseUpgrade(socket, 404, 'Not Found');
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
      const [status, text] = error.code === 'UNAUTHENTICATED' ? [401, 'Unauthorized'] : [403, 'Forbidden'];
      refuseUpgrade(socket, status, text);
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  };
}

export function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
