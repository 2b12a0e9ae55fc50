import { open, readdir, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ExportNotAcknowledgedError } from '../errors.js';
import type { ExportSinkConfig } from './export-config.js';
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
      const data = Buffer.from(batch.map((item) => `${JSON.stringify(item.record)}\n`).join(''), 'utf8');
      await handle.appendFile(data);
      await handle.datasync();
      this.size += data.length;
    } catch (error) {
      await this.closeHandle().catch(() => {});
      throw new ExportNotAcknowledgedError(this.config.name, `cannot write the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`, error);
    }
  }

  async lastDelivered(): Promise<string | null> {
    let handle: FileHandle;
    try {
      handle = await open(this.path, 'r');
    } catch {
      return null;
    }
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, TAIL_BYTES);
      const { buffer } = await handle.read({ buffer: Buffer.alloc(length), position: size - length });
      const lines = buffer.toString('utf8').split('\n').filter((line) => line !== '');
      const last = lines.at(-1);
      if (last === undefined) return null;
      try {
        return idOfRecord(JSON.parse(last) as Record<string, unknown>, this.config.format);
      } catch {
        // A torn last line (a crash mid-write): what precedes it is what the file holds.
        const before = lines.at(-2);
        return before === undefined ? null : idOfRecord(JSON.parse(before) as Record<string, unknown>, this.config.format);
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

  private async opened(): Promise<FileHandle> {
    if (this.handle) return this.handle;
    const handle = await open(this.path, 'a', 0o600);
    const info = await handle.stat();
    this.handle = handle;
    this.size = info.size;
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

  private async closeHandle(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}
