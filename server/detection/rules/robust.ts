/** Median and median absolute deviation of a few numbers: a baseline one outlier cannot drag (sorts `values` in place). */
export function medianAndMad(values: number[]): { median: number; mad: number } {
  const median = medianOf(values);
  for (let i = 0; i < values.length; i++) values[i] = Math.abs(values[i]! - median);
  return { median, mad: medianOf(values) };
}

function medianOf(values: number[]): number {
  values.sort((a, b) => a - b);
  const middle = values.length >> 1;
  return values.length % 2 === 1 ? values[middle]! : (values[middle - 1]! + values[middle]!) / 2;
}
