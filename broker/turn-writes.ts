import type { Writable } from 'node:stream';

/**
 * Write coalescing: a stream written to during one turn of the event loop is corked until
 * the turn's I/O callbacks have all run (setImmediate), so everything written to it in
 * that turn leaves in one write system call. On loopback a write that wakes another
 * process is the dearest thing a relayed message costs (bench/README.md), and under load
 * one upstream's answers, or one group commit's released calls, arrive together: each
 * write beyond the first would be another system call. A message is never held past the
 * turn it was written in, and nothing is reordered: it only waits for its neighbours.
 */
const corked = new Set<Writable>();

export function coalesceWrites(stream: Writable): void {
  if (corked.has(stream)) return;
  stream.cork();
  if (corked.size === 0) setImmediate(uncorkAll);
  corked.add(stream);
}

function uncorkAll(): void {
  // Cleared whatever happens: a stream left in the set would never be corked (nor flushed) again.
  try {
    for (const stream of corked) stream.uncork();
  } finally {
    corked.clear();
  }
}
