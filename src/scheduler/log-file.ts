// A step's log file: written synchronously (a flood cannot pile up in memory
// behind a slow disk) and capped, with a note at the cut, so a step printing
// without end cannot fill the disk. FLOW_LOG_MAX_BYTES sets the cap.

import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const DEFAULT_MAX = 1 << 30;

export class StepLog {
  private fd: number | undefined;
  private written = 0;
  private cut = false;
  private readonly max: number;

  constructor(path: string, max = Number(process.env.FLOW_LOG_MAX_BYTES) || DEFAULT_MAX) {
    try {
      this.fd = openSync(path, 'a');
    } catch (e) {
      // The store makes logs/ once per process; something may have removed it since.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(dirname(path), { recursive: true });
      this.fd = openSync(path, 'a');
    }
    this.max = max;
  }

  /**
   * Why the log could not be written (a full disk, a quota), if it could not: the step fails with
   * it (execute.ts). Kept rather than thrown: a write runs inside the step's output callbacks,
   * where a throw would end the whole run instead of this step.
   */
  error: NodeJS.ErrnoException | undefined;

  /** Appends a line, or with `partial` a piece of one that goes on (no newline yet). */
  write(line: string, partial = false): void {
    if (this.cut || this.fd === undefined || this.error) return;
    const text = partial ? line : `${line}\n`;
    const bytes = Buffer.byteLength(text);
    try {
      if (this.written + bytes > this.max) {
        writeSync(this.fd, `\n[flow: log cut at ${this.max} bytes; the step's further output is not kept]\n`);
        this.cut = true;
        return;
      }
      writeSync(this.fd, text);
    } catch (e) {
      this.error = e as NodeJS.ErrnoException;
      return;
    }
    this.written += bytes;
  }

  /** Idempotent: a failure after the success path closed it closes nothing twice. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
