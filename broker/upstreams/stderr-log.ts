import type { Logger } from '../../server/log.js';
import type { SecretScrubber } from '../../server/text/secret-scrubber.js';

/** Longest stderr line logged; the rest of a longer line, up to its newline, is dropped. */
export const MAX_STDERR_LINE = 4096;

/**
 * A child's stderr, logged one line at a time. Chunks split lines (and secrets) anywhere,
 * so lines are put back together first and scrubbed whole; a line is cut only after it
 * was scrubbed, with enough of it kept past the cut that a secret starting before the cut
 * is found entire. Memory stays bounded: past that much, the rest of the line is dropped.
 */
export class StderrLog {
  private pending = '';
  private dropping = false;
  private readonly keep: number;

  constructor(
    private readonly logger: Logger,
    private readonly scrubber: SecretScrubber,
    private readonly maxLine = MAX_STDERR_LINE,
  ) {
    this.keep = maxLine + scrubber.longest;
  }

  write(chunk: string): void {
    for (let start = 0; ; ) {
      const newline = chunk.indexOf('\n', start);
      if (!this.dropping) {
        this.pending += chunk.slice(start, Math.min(newline < 0 ? chunk.length : newline, start + this.keep + 1 - this.pending.length));
        if (this.pending.length > this.keep) {
          this.flush();
          this.dropping = true;
        }
      }
      if (newline < 0) return;
      if (!this.dropping) this.flush();
      this.dropping = false;
      start = newline + 1;
    }
  }

  /** The stream ended: a last line without a newline is still logged. */
  end(): void {
    if (!this.dropping) this.flush();
  }

  private flush(): void {
    const line = this.pending.endsWith('\r') ? this.pending.slice(0, -1) : this.pending;
    this.pending = '';
    if (line.trim() === '') return;
    // Scrubbed here, though the logger scrubs its lines too: a child that logs JSON has
    // escaped its secrets once already, and the logger's own escaping would hide them again.
    if (line.length <= this.maxLine) this.logger.info({ stderr: this.scrubber.scrub(line) }, 'upstream stderr');
    else this.logger.info({ stderr: this.scrubber.scrub(line, this.maxLine), truncated: true }, 'upstream stderr');
  }
}
