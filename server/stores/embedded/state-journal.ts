import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../../clock.js';
import { StoreUnavailableError } from '../../errors.js';
import { appendOrUndo, openOwnerOnly, reopenForAppend, replaceFile, syncDirectory, truncateFile } from './durable-file.js';
import { PersistedMap } from './persisted-map.js';
import type { PersistedMapOptions } from './persisted-map.js';
import { commitLine, HEADER_LINE, readStateFile, STATE_FILE_NAME } from './state-file.js';
import type { LoadedState, StateOp } from './state-file.js';

/** What a commit decides: the caller's answer and the records that make it true (none: nothing to write). */
export interface Decision<T> {
  result: T;
  ops: StateOp[];
}

/**
 * Records written beyond twice the live ones before the file is rewritten: enough that
 * compaction stays rare against the churn of sign-ins (a request id is put, then taken).
 */
const COMPACTION_SLACK = 10_000;

/**
 * The embedded store's state (sessions, tokens, one-time values, consumed assertions,
 * access requests and grants) as a journal in `dataDir/state.jsonl`: a header line, then
 * one line per commit, fdatasync'd before the commit resolves, so a crash or restart
 * keeps whatever was acknowledged. Commits take turns, and memory changes only once a
 * commit is durable: a compare-and-set decided in its turn cannot be overtaken, and a
 * failed write leaves no trace. When the file has grown well past the live records it is
 * rewritten (expired records dropped) and swapped in by one rename.
 *
 * One process per dataDir: the caller holds the data-dir lock.
 */
export class StateJournal {
  private readonly collections = new Map<string, PersistedMap<unknown>>();
  private turn: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set when a failed write could not be undone: the store refuses every later write. */
  private broken: Error | undefined;

  private constructor(
    private file: FileHandle,
    private readonly path: string,
    private readonly clock: Clock,
    private loaded: LoadedState['collections'],
    /** Records in the file: how far it has grown past the live ones. */
    private records: number,
    private readonly compactionSlack: number,
  ) {}

  /** Opens (or creates) the journal in dataDir, which must exist and be locked by the caller. */
  static async open(dataDir: string, clock: Clock, collectionNames: readonly string[], options: { compactionSlack?: number } = {}): Promise<StateJournal> {
    const path = join(dataDir, STATE_FILE_NAME);
    const { collections, records, completeBytes, totalBytes } = readStateFile(path, collectionNames, clock.now());
    if (completeBytes < totalBytes) truncateFile(path, completeBytes);
    const file = await openOwnerOnly(path);
    try {
      if (completeBytes === 0) {
        await file.appendFile(HEADER_LINE);
        await file.datasync();
        // A new file's name is durable only once its directory is: else a crash may lose the first commits whole.
        syncDirectory(path);
      }
    } catch (error) {
      await file.close();
      throw error;
    }
    return new StateJournal(file, path, clock, collections, records, options.compactionSlack ?? COMPACTION_SLACK);
  }

  /** The collection `name` (one of those the journal was opened with), holding what the file held for it. */
  collection<V>(name: string, options: PersistedMapOptions<V> = {}): PersistedMap<V> {
    const loaded = this.loaded.get(name);
    if (!loaded || this.collections.has(name)) throw new Error(`state collection ${name} is unknown or taken`);
    const map = new PersistedMap<V>(name, this, this.clock, options, loaded);
    this.loaded.delete(name);
    this.collections.set(name, map as PersistedMap<unknown>);
    return map;
  }

  /**
   * Runs `decide` in its turn (no other commit runs between its reads and its write),
   * writes the records it returns durably, then applies them. Throws what `decide` throws,
   * or StoreUnavailableError when the write fails (nothing applied).
   */
  commit<T>(decide: () => Decision<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreUnavailableError('state write (store closed)'));
    const run = this.turn.then(() => this.write(decide));
    this.turn = run.then(
      () => this.compactIfDue(),
      () => {},
    );
    return run;
  }

  /** Lets the commits already made finish, then closes the file; later commits fail with StoreUnavailableError. */
  async close(): Promise<void> {
    this.closed = true;
    await this.turn;
    await this.file.close();
    for (const map of this.collections.values()) map.close();
  }

  /** Throws StoreUnavailableError once the journal can no longer be written. */
  ping(): void {
    if (this.closed || this.broken) throw new StoreUnavailableError('state journal (closed or broken)', this.broken);
  }

  private async write<T>(decide: () => Decision<T>): Promise<T> {
    if (this.broken) throw new StoreUnavailableError('state write (a failed write could not be undone)', this.broken);
    const { result, ops } = decide();
    if (ops.length === 0) return result;
    const line = commitLine(ops);
    try {
      await appendOrUndo(this.file, line, (error) => (this.broken = error));
    } catch (error) {
      throw new StoreUnavailableError('state write', error);
    }
    this.records += ops.length;
    for (const op of ops) this.collections.get(op.c)!.apply(op);
    return result;
  }

  private async compactIfDue(): Promise<void> {
    let live = 0;
    for (const map of this.collections.values()) live += map.size;
    if (this.closed || this.broken || this.records <= 2 * live + this.compactionSlack) return;
    // A failed rewrite leaves the journal whole, old or new (the rename is the only switch): the next commit tries again.
    await this.compact().catch(() => {});
  }

  private async compact(): Promise<void> {
    const ops: StateOp[] = [];
    for (const map of this.collections.values()) {
      for (const { key, value, expiresAt } of map.live()) ops.push({ c: map.name, k: key, v: value, x: expiresAt });
    }
    const text = HEADER_LINE + ops.map((op) => commitLine([op])).join('');
    try {
      await replaceFile(this.path, text);
    } finally {
      // Also when the rename went through and only the directory sync failed: commits go to the file at the path.
      await this.reopen();
    }
    this.records = ops.length;
  }

  /** The file at the path, opened anew; when that fails commits fail from then on (durable-file.ts). */
  private async reopen(): Promise<void> {
    const file = await reopenForAppend(this.path, this.file, (error) => (this.broken = error));
    if (file) this.file = file;
  }
}
