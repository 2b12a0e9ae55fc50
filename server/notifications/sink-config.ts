import { positiveInt, slug } from '../config/fields.js';

/** Keys every sink variant of `notifications.sinks` shares (name, deadline), written once. */

/** Part of each delivery's id (`<sink>:<event id>`) and of log lines. */
export const sinkName = slug('a sink name');

/** One attempt's deadline: a stuck receiver fails the attempt, which the dispatcher retries later. */
export const sinkTimeoutMs = positiveInt(120_000)
  .refine((v) => v >= 100, 'expected at least 100 (milliseconds)')
  .default(10_000);
