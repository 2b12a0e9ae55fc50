/** One JSON-RPC message as the bridge sees it: an object, parsed, not yet validated. */
export interface Frame {
  jsonrpc?: unknown;
  id?: string | number | null;
  method?: unknown;
  params?: unknown;
  result?: unknown;
  error?: unknown;
}

export type FrameId = string | number;

const OWN_ID_PREFIX = 'portcullis-bridge-';

/**
 * The session state a client built up on the broker and that a new connection must
 * rebuild, so a reconnect is invisible to the client: the initialize handshake, every
 * live resource subscription and the last log level. An upstream behind a new session
 * starts from nothing, and MCP gives the client no signal to redo them itself.
 *
 * A subscribe, unsubscribe or setLevel counts once the broker answered it with success;
 * one that failed, or that was in flight when the connection dropped (the client got an
 * error for it), changed nothing.
 */
export class SessionReplay {
  private initialize: Frame | undefined;
  private initialized: Frame | undefined;
  /** The client's live subscriptions, by URI. */
  private readonly subscriptions = new Map<string, Frame>();
  private logLevel: Frame | undefined;
  /** Requests that change the state, sent and not yet answered. */
  private readonly pending = new Map<FrameId, Frame>();
  /** The bridge's own requests on the current connection (id → method), whose answers the client never sees. */
  private readonly own = new Map<string, string>();
  private nextId = 0;

  /** A client frame on its way to the broker. */
  sent(frame: Frame): void {
    switch (frame.method) {
      case 'initialize':
        this.initialize = frame;
        break;
      case 'notifications/initialized':
        this.initialized = frame;
        break;
      case 'resources/subscribe':
      case 'resources/unsubscribe':
      case 'logging/setLevel':
        if (frame.id !== undefined && frame.id !== null) this.pending.set(frame.id, frame);
    }
  }

  /** The broker's answer to a client request. */
  answered(frame: Frame): void {
    if (frame.id === undefined || frame.id === null) return;
    const request = this.pending.get(frame.id);
    if (!request) return;
    this.pending.delete(frame.id);
    if (frame.error !== undefined) return;
    if (request.method === 'logging/setLevel') return void (this.logLevel = request);
    const uri = (request.params as { uri?: unknown } | undefined)?.uri;
    if (typeof uri !== 'string') return;
    if (request.method === 'resources/subscribe') this.subscriptions.set(uri, request);
    else this.subscriptions.delete(uri);
  }

  /** The connection ended: what it carried was answered with errors and changed nothing. */
  dropped(): void {
    this.pending.clear();
    this.own.clear();
  }

  /**
   * The frames that rebuild the session, with ids of the bridge's own: `initialize`
   * alone first, since MCP's lifecycle wants its answer before anything but pings
   * (spec, "Lifecycle"), then the rest.
   */
  rebuild(): { initialize: (Frame & { id: string }) | undefined; rest: Frame[] } {
    const request = (frame: Frame): Frame & { id: string } => {
      const id = `${OWN_ID_PREFIX}${++this.nextId}`;
      this.own.set(id, String(frame.method));
      return { ...frame, id };
    };
    const rest = [...this.subscriptions.values(), ...(this.logLevel ? [this.logLevel] : [])].map(request);
    return { initialize: this.initialize && request(this.initialize), rest: this.initialized ? [this.initialized, ...rest] : rest };
  }

  /** For an answer to one of the bridge's own requests (not the client's to see), the method it answers. */
  ownRequestAnswered(frame: Frame): string | undefined {
    if (frame.method !== undefined || typeof frame.id !== 'string') return undefined;
    const method = this.own.get(frame.id);
    this.own.delete(frame.id);
    return method;
  }

  /** True while some of the bridge's own requests are unanswered. */
  awaitingAnswers(): boolean {
    return this.own.size > 0;
  }
}
