import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { StoreCorruptError } from '../../errors.js';

export const STATE_FILE_NAME = 'state.jsonl';

/** The first line of every state file: what it is, and which layout its records follow. */
const HEADER = { portcullis: 'state', version: 1 } as const;
export const HEADER_LINE = `${JSON.stringify(HEADER)}\n`;

/** One record: `v` and `x` (its expiresAt) set the key, without them the key is deleted. */
export type StateOp = { c: string; k: string; v: unknown; x: number } | { c: string; k: string; deleted: true };

/** One commit is one line: a crash keeps all of its records or none (a torn line is cut off). */
export function commitLine(ops: readonly StateOp[]): string {
  return `${JSON.stringify(ops)}\n`;
}

export interface LoadedState {
  /** Live records per collection: what replaying every line leaves, expired ones dropped. */
  collections: Map<string, Map<string, { value: unknown; expiresAt: number }>>;
  /** Records in the file, superseded ones included: how far it has grown past the live data. */
  records: number;
  /** Bytes up to the end of the last whole line; a torn line after it is for the caller to cut. */
  completeBytes: number;
  totalBytes: number;
}

/**
 * Replays the state file. A last line without its newline is a commit that crashed before
 * it was acknowledged: it is left out (and reported through the byte counts). Anything
 * else unreadable (a line that is not a list of records, a collection this version does not
 * know, a missing header) stops the start: writing on would bury whatever broke it.
 */
export function readStateFile(path: string, collectionNames: readonly string[], now: number): LoadedState {
  const collections = new Map(collectionNames.map((name) => [name, new Map<string, { value: unknown; expiresAt: number }>()]));
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { collections, records: 0, completeBytes: 0, totalBytes: 0 };
    throw error;
  }
  const complete = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, complete).split('\n').slice(0, -1);
  if (lines.length > 0 && lines[0] !== HEADER_LINE.trimEnd()) throw new StoreCorruptError(`${path} line 1 is not a Portcullis state header (${HEADER_LINE.trimEnd()})`);
  const commit = commitSchema(collectionNames);
  let records = 0;
  for (const [i, line] of lines.entries()) {
    if (i === 0) continue;
    const parsed = commit.safeParse(parseJson(line));
    if (!parsed.success) throw new StoreCorruptError(`${path} line ${i + 1} is not a list of state records`);
    for (const op of parsed.data) {
      const collection = collections.get(op.c)!;
      if ('deleted' in op) collection.delete(op.k);
      else collection.set(op.k, { value: op.v, expiresAt: op.x });
    }
    records += parsed.data.length;
  }
  for (const collection of collections.values()) {
    for (const [key, entry] of collection) if (entry.expiresAt <= now) collection.delete(key);
  }
  return { collections, records, completeBytes: Buffer.byteLength(text.slice(0, complete)), totalBytes: Buffer.byteLength(text) };
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}

function commitSchema(collectionNames: readonly string[]) {
  const c = z.enum(collectionNames as [string, ...string[]]);
  const k = z.string();
  return z.array(z.union([z.strictObject({ c, k, v: z.json(), x: z.number() }), z.strictObject({ c, k, deleted: z.literal(true) })])).min(1);
}
