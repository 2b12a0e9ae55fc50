import { z } from 'zod';

/** Keys every sink variant of `notifications.sinks` shares (name, deadline), written once. */

/** Part of each delivery's id (`<sink>:<event id>`) and of log lines: DNS-label-like. */
export const sinkName = z
  .string({ error: 'expected a sink name' })
  .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'expected a sink name: lowercase letters, digits and inner hyphens, at most 63 characters');

// Values from ${env:...} arrive as strings.
export const integer = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v),
    z.number({ error: 'expected an integer' }).int('expected an integer').min(min, `expected at least ${min}`).max(max, `expected at most ${max}`),
  );

/** One attempt's deadline: a stuck receiver fails the attempt, which the dispatcher retries later. */
export const sinkTimeoutMs = integer(100, 120_000).default(10_000);
