import type { BrokerDeps } from './session-registry.js';
import { SessionRegistry } from './session-registry.js';
import { StreamableHttpEdge } from './edges/streamable-http.js';
import { WebSocketEdge } from './edges/websocket.js';

export { MCP_WS_FEDERATED, MCP_WS_PREFIX } from './edges/websocket.js';

/**
 * The MCP relay: one SessionRegistry (admission, live sessions, what ends them) and its
 * thin edges, WebSocket (`/mcp/ws/:server`, `/mcp/ws`) and Streamable HTTP (`/mcp/:server`,
 * `/mcp`), each running SessionCores the same way.
 */
export class Broker {
  private readonly registry: SessionRegistry;
  private readonly webSocket: WebSocketEdge;
  private readonly httpEdge: StreamableHttpEdge;
  /** The upgrade handler for `/mcp/ws` (federated) and paths under `/mcp/ws/`. */
  readonly upgrade: WebSocketEdge['upgrade'];
  /** The Streamable HTTP endpoints, to mount on the HTTP app. */
  readonly http: StreamableHttpEdge['router'];
  /** The same endpoints' handler, for requests served below the app (server/http/direct-mcp.ts). */
  readonly serveHttp: StreamableHttpEdge['serve'];

  constructor(deps: BrokerDeps) {
    this.registry = new SessionRegistry(deps);
    this.webSocket = new WebSocketEdge(this.registry, deps);
    this.httpEdge = new StreamableHttpEdge(this.registry, deps);
    this.upgrade = this.webSocket.upgrade;
    this.http = this.httpEdge.router;
    this.serveHttp = (req, res, target) => this.httpEdge.serve(req, res, target);
  }

  /** Live MCP sessions on this instance, WebSocket and HTTP alike. */
  get sessionCount(): number {
    return this.registry.size;
  }

  /** Ends every session, WebSocket and HTTP alike, with 1001 (in-flight requests answered), and stops accepting. */
  async close(): Promise<void> {
    await this.registry.close();
    this.httpEdge.close();
    await this.webSocket.close();
  }
}
