import type { EventBus } from './types.js';

/** One named, typed channel on the store's event bus (a hint across instances, never the truth). */
export interface BusTopic<T> {
  publish(detail: T): void;
  /** Calls `listener` for every event on any instance; returns the unsubscribe. */
  subscribe(listener: (detail: T) => void): () => void;
}

export function busTopic<T>(bus: EventBus, name: string): BusTopic<T> {
  return {
    publish: (detail) => void bus.dispatchEvent(new CustomEvent(name, { detail })),
    subscribe: (listener) => {
      const handler = (event: Event) => listener((event as CustomEvent<T>).detail);
      bus.addEventListener(name, handler);
      return () => bus.removeEventListener(name, handler);
    },
  };
}
