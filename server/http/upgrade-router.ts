import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';

/**
 * Routes WebSocket upgrades by exact path to the server that owns it; anything else is
 * refused with a plain HTTP status before any WebSocket handshake happens.
 */
export function createUpgradeRouter(routes: Record<string, WebSocketServer>) {
  return (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = new URL(request.url ?? '/', 'http://placeholder').pathname;
    const wss = routes[path];
    if (!wss) {
      refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
  };
}

export function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
