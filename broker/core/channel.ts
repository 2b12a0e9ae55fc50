/**
 * The client side of a session, whatever carries it (a WebSocket today, Streamable HTTP
 * next): the core speaks JSON-RPC through it and never knows which transport it rides on.
 */
export interface ClientChannel {
  /** One JSON-RPC message to the client; dropped once the channel is closed. */
  send(message: object): void;
  /** Ends the client side with a close code and a reason a person can read. */
  close(code: number, reason: string): void;
}
