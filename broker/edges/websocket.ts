import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { refusalOf, refuseUpgrade, UpgradeRefused } from '../../server/http/upgrade-router.js';
import { ClientLink } from '../client-link.js';
import { principalOf } from '../mcp-credential.js';
import { refuseCredentialInUrl } from '../session-registry.js';
import type { Admission, BrokerDeps, SessionRegistry } from '../session-registry.js';

import { MCP_WS_FEDERATED, MCP_WS_PREFIX } from '../endpoint-paths.js';

export { MCP_WS_FEDERATED, MCP_WS_PREFIX };
const SUBPROTOCOL = 'mcp';

/**
 * The MCP WebSocket endpoints, `GET /mcp/ws/:server` and `GET /mcp/ws` (federated): refuses
 * before the upgrade (401 no or bad credential, 403 no active grant or no `mcp` scope, 404
 * unknown server, 429/503 past the caps), then runs one SessionCore per connection with
 * the WebSocket as its edge, and pings it.
 */
export class WebSocketEdge {
  private readonly wss: WebSocketServer;
  private readonly alive = new WeakSet<WebSocket>();
  private readonly pinger: NodeJS.Timeout;

  constructor(
    private readonly registry: SessionRegistry,
    private readonly deps: BrokerDeps,
  ) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: deps.config.broker.maxFrameBytes, handleProtocols: () => SUBPROTOCOL });
    this.pinger = setInterval(() => this.ping(), deps.config.broker.pingIntervalSeconds * 1000);
    this.pinger.unref();
  }

  /** The upgrade handler for `/mcp/ws` (federated) and paths under `/mcp/ws/`. */
  readonly upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    this.admit(request).then(
      (admission) => {
        let opened = false;
        try {
          // Checked again after the awaits: a session opened now would miss the shutdown's sweep.
          this.registry.checkCapacity(admission);
          this.wss.handleUpgrade(request, socket, head, (ws) => {
            opened = true;
            this.open(ws, socket, admission);
          });
        } catch (error) {
          this.refuse(socket, error);
        } finally {
          // A peer gone during the checks never gets its session: its place goes back.
          if (!opened) admission.lease.release();
        }
      },
      (error: unknown) => this.refuse(socket, error),
    );
  };

  /** Stops pinging and accepting; the sessions end through the registry. */
  async close(): Promise<void> {
    clearInterval(this.pinger);
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private async admit(request: IncomingMessage): Promise<Admission> {
    const target = request.url ?? '';
    refuseCredentialInUrl(target);
    const path = target.split('?', 1)[0]!;
    const named = path === MCP_WS_FEDERATED ? undefined : this.registry.server(path.slice(MCP_WS_PREFIX.length));
    const offered = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(SUBPROTOCOL)) throw new UpgradeRefused(400, 'the "mcp" WebSocket subprotocol is required');

    const { authenticator } = this.deps.identity;
    // Once per connection: every event of the session records this address.
    const principal = await principalOf(authenticator, authenticator.presented(request.headers), this.deps.addressOf(request));
    return this.registry.admit(principal, named, { transport: 'websocket' });
  }

  private refuse(socket: Duplex, error: unknown): void {
    const refusal = refusalOf(error);
    if (refusal.status >= 500 && !(error instanceof UpgradeRefused)) this.deps.logger.warn({ err: error }, 'MCP upgrade refused');
    refuseUpgrade(socket, refusal);
  }

  private open(ws: WebSocket, socket: Duplex, admission: Admission): void {
    // The WebSocket is the edge; every decision is the core's.
    const channel = { send: (message: object) => link.send(message), close: (code: number, reason: string) => link.close(code, reason) };
    const session = this.registry.open(admission, channel, { transport: 'websocket' });
    const link = new ClientLink(ws, socket, { frame: (text) => session.receive(text), gone: (code, reason) => void session.end(code, reason, null) }, this.deps.config.broker.idleTimeoutSeconds * 1000);
    this.alive.add(ws);
    ws.on('pong', () => this.alive.add(ws));
  }

  /** A peer that did not answer the last ping is gone: cut it off. */
  private ping(): void {
    for (const ws of this.wss.clients) {
      if (!this.alive.has(ws)) {
        ws.terminate();
        continue;
      }
      this.alive.delete(ws);
      ws.ping();
    }
  }
}
