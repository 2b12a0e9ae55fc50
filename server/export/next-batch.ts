/**
 * Batches from an endless iterator (the audit tail): waits for one item, then takes those
 * ready at once, up to `max`, without waiting for more. So a quiet log sends each event as it
 * comes, and a busy one fills batches with whatever piled up during the previous send. A
 * `next()` not ready yet is kept for the following batch, never dropped. Null when the
 * iterator ends (its signal aborted).
 */
export function nextBatch<T>(items: AsyncIterator<T>, max: number): () => Promise<T[] | null> {
  let pending: Promise<IteratorResult<T>> | null = null;
  const NOT_READY = Symbol('not ready');
  return async () => {
    const first = await (pending ?? items.next());
    pending = null;
    if (first.done) return null;
    const batch = [first.value];
    while (batch.length < max) {
      const next = items.next();
      const ready = await Promise.race([next, new Promise<typeof NOT_READY>((resolve) => setImmediate(() => resolve(NOT_READY)))]);
      if (ready === NOT_READY) {
        pending = next;
        break;
      }
      if (ready.done) break;
      batch.push(ready.value);
    }
    return batch;
  };
}
