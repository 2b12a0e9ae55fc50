import type { ConnectionOptions } from 'node:tls';
import { StandaloneConnector, SentinelConnector } from 'ioredis/built/connectors/index.js';

/** Who hears the socket errors of connections made with these TLS options (the one object a client hands all of them). */
const listeners = new WeakMap<object, (error: Error) => void>();

let installed = false;

/**
 * ioredis listens for a socket's 'error' with `once` (its connector, then the client; a fix
 * was proposed as ioredis PR #961 and closed unmerged). A TLS socket whose handshake fails,
 * on a certificate that does not verify (another CA, expired, the wrong name), can emit a
 * second 'error' when the server's alert arrives after the verification error; with no
 * listener left, Node throws it, and the broker process dies. Seen on a Cluster with an
 * untrusted CA: a misconfiguration, an expired certificate or anyone able to answer on a
 * Redis address would crash every broker, again after each restart, instead of finding the
 * store unavailable.
 *
 * So every socket either connector opens (plain Redis, Cluster nodes, Sentinels, the primary
 * found through them, and their duplicates) keeps a listener for life. The first error
 * still reaches ioredis, which fails the connection and retries. Patched on the prototypes
 * because ioredis opens some of these connections itself (the Sentinels, a Cluster's slot
 * lookups) without any option of ours, and drops their errors; the listener passes them to
 * whoever registered the TLS options they were made with (reportSocketErrors).
 */
export function keepSocketErrorsHandled(): void {
  if (installed) return;
  installed = true;
  for (const Connector of [StandaloneConnector, SentinelConnector]) {
    const connect = Connector.prototype.connect;
    Connector.prototype.connect = function (this: InstanceType<typeof Connector>, ...args: Parameters<typeof connect>) {
      const { tls } = (this as unknown as { options: { tls?: object } }).options;
      return connect.apply(this, args).then((stream) => stream.on('error', (tls && listeners.get(tls)) || ignore));
    };
  }
}

/** Socket errors of every connection made with `tls` (ioredis copies the object's reference into each) go to `listener`. */
export function reportSocketErrors(tls: ConnectionOptions, listener: (error: Error) => void): void {
  keepSocketErrorsHandled();
  listeners.set(tls, listener);
}

function ignore(): void {}
