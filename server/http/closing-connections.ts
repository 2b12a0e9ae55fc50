import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** Connections an answer closes (`connection: close`), until they are gone. */
const closing = new WeakSet<Duplex>();

/**
 * Closes the connection once this answer is sent, and refuses to serve what was pipelined
 * behind it (RFC 9112 §9.6: a server that sends `close` must not process further requests on
 * that connection). Node's HTTP server still parses such requests while the answer is
 * written, and hands them to the app: a tool call behind a POST refused before its body
 * came would be authenticated, audited and run upstream, its answer never read, so a client
 * that retried it would run it twice.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  res.setHeader('connection', 'close');
  closing.add(req.socket);
}

/** Whether a request or upgrade came in on a connection an earlier answer closes: it is not served. */
export function behindClosingAnswer(socket: Duplex): boolean {
  return closing.has(socket);
}
