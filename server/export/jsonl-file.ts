import { open, readdir, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExportNotAcknowledgedError } from '../errors.js';
import type { ExportSinkConfig } from './export-config.js';
import { jsonLine } from '../text/json-line.js';
import { idOfRecord } from './export-record.js';
import type { ExportItem, ExportTransport } from './types.js';

type FileConfig = Extract<ExportSinkConfig, { type: 'file' }>;

/** The last line is found within this much of the file's end (a record is far smaller). */
const TAIL_BYTES = 1024 * 1024;

/**
 * JSON lines, one record a line, appended and synced per batch (a batch is acknowledged once
 * it is on disk). Past `maxBytes` or `maxAgeSeconds` the file is renamed `<path>.1` (older
 * ones shifted to `.2`…, those beyond `keep` removed) before the next batch. The last line
 * tells a restarted exporter what the file already holds, so a crash between a write and its
 * commit repeats nothing here.
 */
export class JsonLinesFileTransport implements ExportTransport {
  private handle: FileHandle | null = null;
  private size = 0;
  private openedAt = 0;

  constructor(
    private readonly config: FileConfig,
    private readonly path: string,
    private readonly now: () => number,
  ) {}

  async send(batch: readonly ExportItem[]): Promise<void> {
    try {
      if (this.handle && this.due()) await this.rotate();
      const handle = await this.opened();
      const data = Buffer.from(batch.map((item) => `${jsonLine(item.record)}\n`).join(''), 'utf8');
      await this.append(handle, data);
      this.size += data.length;
    } catch (error) {
      await this.closeHandle().catch(() => {});
      throw new ExportNotAcknowledgedError(this.config.name, `cannot write the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error);
    }
  }

  /** Only whole lines count: opened() cuts off a last line without its newline, so it is sent again. */
  async lastDelivered(): Promise<string | null> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch {
      return null;
    }
    try {
      const { last } = await wholeLines(handle, (await handle.stat()).size);
      if (last === null) return null;
      try {
        return idOfRecord(JSON.parse(last) as Record<string, unknown>, this.config.format);
      } catch {
        // Not a line this transport wrote: nothing is known, the exporter goes on from its cursor.
        return null;
      }
    } finally {
      await handle.close();
    }
  }

  close(): Promise<void> {
    return this.closeHandle();
  }

  private due(): boolean {
    return this.size >= this.config.maxBytes || this.now() - this.openedAt >= this.config.maxAgeSeconds * 1000;
  }

  /**
   * A crash mid-write leaves a torn last line (or a whole record without its newline): cut
   * back to the last whole line, or the next record would be glued onto it, unreadable.
   * Read as well as append ('a+'), to find that line.
   */
  private async opened(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    const handle = await open(this.path, 'a+', 0o600);
    this.handle = handle;
    const info = await handle.stat();
    const { bytes } = await wholeLines(handle, info.size);
    if (bytes < info.size) await handle.truncate(bytes);
    this.size = bytes;
    // An existing file's age counts from its creation (its birth time where the file system keeps one).
    this.openedAt = info.size === 0 ? this.now() : info.birthtimeMs || info.mtimeMs;
    if (this.due()) {
      await this.rotate();
      return this.opened();
    }
    return handle;
  }

  /** `<path>` → `<path>.1`, `.1` → `.2`…; those past `keep` removed. */
  private async rotate(): Promise<void> {
    await this.closeHandle();
    const dir = dirname(this.path);
    const name = basename(this.path);
    const rotated = (await readdir(dir))
      .map((entry) => ({ entry, n: entry.startsWith(`${name}.`) ? Number(entry.slice(name.length + 1)) : NaN }))
      .filter(({ n }) => Number.isInteger(n) && n > 0)
      .sort((a, b) => b.n - a.n);
    for (const { entry, n } of rotated) {
      if (n >= this.config.keep) await unlink(join(dir, entry));
      else await rename(join(dir, entry), `${this.path}.${n + 1}`);
    }
    await rename(this.path, `${this.path}.1`).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  }

  /**
   * Undoes a partial write (ENOSPC, EIO), or the batch sent again would follow its torn
   * last line, and its whole lines would be repeated. Should the undo fail too, the next
   * open at least cuts the torn line off.
   */
  private async append(handle: FileHandle, data: Buffer): Promise<void> {
    const { size } = await handle.stat();
    try {
      await handle.appendFile(data);
      await handle.datasync();
    } catch (error) {
      await handle.truncate(size).catch(() => {});
      throw error;
    }
  }

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}

/**
 * How many of the file's `size` bytes are whole lines (up to its last newline), and the last
 * of those lines (null: none). A record is far smaller than TAIL_BYTES, so it ends within them.
 */
async function wholeLines(handle: FileHandle, size: number): Promise<{ bytes: number; last: string | null }> {
  const length = Math.min(size, TAIL_BYTES);
  const { buffer } = await handle.read({ buffer: Buffer.alloc(length), position: size - length });
  const end = buffer.lastIndexOf(0x0a);
  // A tail this long without a line break is no torn record of ours: cutting it would destroy what someone else put there.
  if (end < 0 && size > length) throw Object.assign(new Error(`no line break in the file's last ${length} bytes`), { code: 'NOT_JSON_LINES' });
  if (end < 0) return { bytes: 0, last: null };
  const start = end === 0 ? 0 : buffer.lastIndexOf(0x0a, end - 1) + 1;
  return { bytes: size - length + end + 1, last: buffer.toString('utf8', start, end) };
}
