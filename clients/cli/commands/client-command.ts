import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { isRecord } from '../../../broker/core/json.js';
import { BrokerApi } from '../broker-api.js';
import { resolveCredentials } from '../credentials.js';
import { parseDuration } from '../../../server/text/durations.js';
import { jsonLine } from '../../../server/text/json-line.js';
import { oneLine } from '../output.js';

/** Options every command that talks to the broker's API takes. */
export interface ClientOptions {
  broker?: string;
  json?: boolean;
}

/** A command on the broker's API: `--broker` (default: your login's) and `--json`. */
export function clientCommand(name: string, description: string): Command {
  return new Command(name)
    .description(description)
    .option('-b, --broker <url>', 'broker base URL (default: $PORTCULLIS_BROKER, else the one you logged in to)')
    .option('--json', 'print JSON for scripts instead of a table');
}

export function apiFor(options: ClientOptions): BrokerApi {
  return new BrokerApi(resolveCredentials(options));
}

/** Prints the JSON form with `--json`, the human form otherwise (no control characters from the API in it). */
export function emit(options: ClientOptions, json: unknown, human: () => string): void {
  console.log(options.json ? jsonLine(json, 2) : human().split('\n').map(oneLine).join('\n'));
}

/** commander parser for `90m`, `2h`, `1d`. */
export function durationOption(value: string): number {
  try {
    return parseDuration(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** commander parser for `a,b` (repeatable: values accumulate). */
export function listOption(value: string, previous: string[] = []): string[] {
  const items = value.split(',').map((item) => item.trim()).filter(Boolean);
  if (items.length === 0) throw new InvalidArgumentError('expected one or more comma-separated names');
  return [...previous, ...items];
}

export function countOption(value: string): number {
  const n = Number(value);
  if (!/^\d{1,4}$/.test(value) || n < 1) throw new InvalidArgumentError('expected a number from 1 to 9999');
  return n;
}

/**
 * commander parser for a JSON object, inline or as `@file` (a file keeps a long schema out
 * of shell quoting, and call arguments off the public process list). Parsed before
 * the command runs: bad JSON sends nothing.
 */
export function jsonObjectOption(value: string): Record<string, unknown> {
  let text = value;
  if (value.startsWith('@')) {
    try {
      text = readFileSync(value.slice(1), 'utf8');
    } catch (error) {
      throw new InvalidArgumentError(`cannot read ${value.slice(1)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new InvalidArgumentError(`not valid JSON: ${(error as Error).message}`);
  }
  if (!isRecord(parsed)) throw new InvalidArgumentError('expected a JSON object');
  return parsed;
}

/**
 * Follows cursor pages until `limit` items (the API caps a page; the CLI does not care),
 * and says on stderr when there were more.
 */
export async function collect<T>(limit: number, page: (after: string | null, first: number) => Promise<{ items: T[]; pageInfo: { endCursor: string | null; hasNextPage: boolean } }>): Promise<T[]> {
  const items: T[] = [];
  let after: string | null = null;
  for (;;) {
    const result = await page(after, Math.min(100, limit - items.length));
    items.push(...result.items);
    if (!result.pageInfo.hasNextPage || !result.pageInfo.endCursor) return items;
    if (items.length >= limit) {
      console.error(`(the newest ${items.length} shown; there are more: raise --limit)`);
      return items;
    }
    after = result.pageInfo.endCursor;
  }
}
