import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import WebSocket from 'ws';

export interface WebSocketCloseInfo {
  code: number;
  reason: string;
}

/**
 * The MCP SDK Transport over the broker's WebSocket endpoint: subprotocol `mcp`, one text
 * frame per JSON-RPC message, and the token in the Authorization header (the SDK's own
 * WebSocket transport cannot send headers, and a token must never ride in the URL).
 */
export class BrokerWebSocketTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** How the broker closed the socket (4403 grant ended, 1011 upstream failed, ...). */
  closeInfo: WebSocketCloseInfo | undefined;
  private socket: WebSocket | undefined;

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string>,
  ) {}

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(this.url, 'mcp', { headers: this.headers });
      this.socket = socket;
      socket.once('unexpected-response', (_req, res) => reject(new Error(`broker refused the connection: HTTP ${res.statusCode}`)));
      socket.once('open', () => resolve());
      socket.once('error', (error) => reject(error));
      socket.on('message', (data) => {
        let message: JSONRPCMessage;
        try {
          message = JSON.parse(data.toString()) as JSONRPCMessage;
        } catch (error) {
          this.onerror?.(error as Error);
          return;
        }
        this.onmessage?.(message);
      });
      socket.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.onclose?.();
      });
    });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) throw new Error('not connected');
    await new Promise<void>((resolve, reject) => socket.send(JSON.stringify(message), (error) => (error ? reject(error) : resolve())));
  }

  async close(): Promise<void> {
    this.socket?.close(1000);
  }
}
