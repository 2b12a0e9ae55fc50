/**
 * Wraps a tail generator so that ending it from either side stops it promptly: aborting
 * the caller's signal, or the consumer leaving a `for await` (which calls `return()`).
 * A plain async generator would only notice `return()` at its next `yield`, and a tail
 * that is waiting for the next event may never reach one.
 */
export function abortableTail<T>(signal: AbortSignal, produce: (signal: AbortSignal) => AsyncGenerator<T>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<T> {
      const inner = new AbortController();
      const forward = () => inner.abort();
      if (signal.aborted) inner.abort();
      else signal.addEventListener('abort', forward, { once: true });
      const iterator = produce(inner.signal);
      const stop = async (): Promise<IteratorResult<T>> => {
        inner.abort();
        signal.removeEventListener('abort', forward);
        return iterator.return(undefined);
      };
      return {
        next: async () => {
          const result = await iterator.next();
          if (result.done) signal.removeEventListener('abort', forward);
          return result;
        },
        return: stop,
        throw: async (error: unknown) => {
          await stop();
          throw error;
        },
      };
    },
  };
}
