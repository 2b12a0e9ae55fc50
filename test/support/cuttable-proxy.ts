import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

/**
 * A TCP relay to the broker that the test can cut: every relayed connection is destroyed
 * and the port refuses new ones until it is opened again, as a broker restart or a network
 * partition looks to the tail.
 */
export class CuttableProxy {
  private listener: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private port = 0;
  /** The graphql-ws connection_ack frames the broker sent through it (server frames are unmasked). */
  acks = 0;

  constructor(private readonly targetPort: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens (on the same port as before, once it had one). */
  async open(): Promise<void> {
    const listener = createServer((client) => {
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => (client.destroy(), upstream.destroy()));
      }
      upstream.on('data', (chunk: Buffer) => (this.acks += chunk.toString('latin1').split('"connection_ack"').length - 1));
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve) => listener.listen(this.port, '127.0.0.1', resolve));
    this.port = (listener.address() as AddressInfo).port;
    this.listener = listener;
  }

  /** Drops every relayed connection and refuses new ones. */
  async cut(): Promise<void> {
    const listener = this.listener;
    this.listener = null;
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => listener?.close(resolve) ?? resolve(undefined));
  }
}
