import type { JsonRpcError, JsonRpcId } from '../jsonrpc.js';

/**
 * The client side of a session, whatever carries it (a WebSocket today, Streamable HTTP
 * next): the core speaks JSON-RPC through it and never knows which transport it rides on.
 */
export interface ClientChannel {
  /** One JSON-RPC message to the client; dropped once the channel is closed. */
  send(message: object): void;
  /**
   * Ends the client side with a close code and a reason a person can read. `unanswered` is
   * the core's answer to a request it could not complete: an edge still holding requests the
   * core never took (sent while the session was starting) answers them with it, as the core
   * answers its own in flight.
   */
  close(code: number, reason: string, unanswered: (id: JsonRpcId) => JsonRpcError): void;
}
