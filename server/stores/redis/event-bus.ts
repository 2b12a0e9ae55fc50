import { duplicateClient, waitReady } from './connection.js';
import type { RedisClient } from './connection.js';

/**
 * An EventTarget spanning instances over Redis pub/sub: dispatchEvent publishes the
 * event's `detail` as JSON, and every instance (this one included) re-dispatches it
 * locally when Redis delivers it. Pub/sub drops messages while a connection is down:
 * listeners treat events as hints and re-read the store for the truth.
 */
export class RedisEventBus extends EventTarget {
  private readonly local = new EventTarget();
  private readonly subscriber: RedisClient;
  private readonly counts = new Map<string, number>();

  constructor(
    private readonly publisher: RedisClient,
    private readonly channelPrefix: string,
    connectTimeoutMs: number,
  ) {
    super();
    // In a Cluster, SUBSCRIBE goes to one node and PUBLISH to any: Redis forwards classic pub/sub across the cluster bus.
    this.subscriber = duplicateClient(publisher, { enableOfflineQueue: true });
    this.subscriber.on('message', (channel: string, message: string) => {
      if (!channel.startsWith(this.channelPrefix)) return;
      let detail: unknown;
      try {
        detail = JSON.parse(message);
      } catch {
        return;
      }
      this.local.dispatchEvent(new CustomEvent(channel.slice(this.channelPrefix.length), { detail }));
    });
    void waitReady(this.subscriber, connectTimeoutMs).catch(() => {});
  }

  override addEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: AddEventListenerOptions | boolean): void {
    if (!listener) return;
    this.local.addEventListener(type, listener, options);
    const count = (this.counts.get(type) ?? 0) + 1;
    this.counts.set(type, count);
    // The offline queue holds the SUBSCRIBE until connected; ioredis re-subscribes after a reconnect.
    if (count === 1) void this.subscriber.subscribe(this.channelPrefix + type).catch(() => {});
  }

  override removeEventListener(type: string, listener: EventListenerOrEventListenerObject | null, options?: EventListenerOptions | boolean): void {
    if (!listener) return;
    this.local.removeEventListener(type, listener, options);
    const count = (this.counts.get(type) ?? 0) - 1;
    if (count > 0) {
      this.counts.set(type, count);
      return;
    }
    this.counts.delete(type);
    void this.subscriber.unsubscribe(this.channelPrefix + type).catch(() => {});
  }

  override dispatchEvent(event: Event): boolean {
    const detail = (event as CustomEvent<unknown>).detail;
    void this.publisher.publish(this.channelPrefix + event.type, JSON.stringify(detail ?? null)).catch(() => {});
    return true;
  }

  close(): void {
    this.subscriber.disconnect();
  }
}
