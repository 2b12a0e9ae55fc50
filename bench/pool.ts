/**
 * `count` results of `make`, at most `concurrency` running at once, in index order: a burst
 * of thousands of connections or logins would measure the listen backlog, not the broker.
 */
export async function pooled<T>(count: number, concurrency: number, make: (index: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      results[index] = await make(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}
