// A step's log file: written synchronously (a flood cannot pile up in memory
// behind a slow disk) and capped, with a note at the cut, so a step printing
// without end cannot fill the disk. FLOW_LOG_MAX_BYTES sets the cap.

import { closeSync, mkdirSync, open, writeSync } from 'node:fs';
import { dirname } from 'node:path';

const DEFAULT_MAX = 1 << 30;

export class StepLog {
  private fd: number | undefined;
  private written = 0;
  private cut = false;
  private readonly max: number;

  private constructor(fd: number, max: number) {
    this.fd = fd;
    this.max = max;
  }

  /**
   * Creates the log file. In the thread pool: creating a file costs most of a millisecond on the
   * disks flow runs on, which the event loop should not wait through while other steps run.
   */
  static async open(path: string, max = Number(process.env.FLOW_LOG_MAX_BYTES) || DEFAULT_MAX): Promise<StepLog> {
    let fd: number;
    try {
      fd = await openFd(path);
    } catch (e) {
      // The store makes logs/ once per process; something may have removed it since.
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      mkdirSync(dirname(path), { recursive: true });
      fd = await openFd(path);
    }
    return new StepLog(fd, max);
  }

  /** Appends a line, or with `partial` a piece of one that goes on (no newline yet). */
  write(line: string, partial = false): void {
    if (this.cut || this.fd === undefined) return;
    const text = partial ? line : `${line}\n`;
    const bytes = Buffer.byteLength(text);
    if (this.written + bytes > this.max) {
      writeSync(this.fd, `\n[flow: log cut at ${this.max} bytes; the step's further output is not kept]\n`);
      this.cut = true;
      return;
    }
    writeSync(this.fd, text);
    this.written += bytes;
  }

  /** Idempotent: a failure after the success path closed it closes nothing twice. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** A plain descriptor (a FileHandle would close itself when collected, under the writes). */
function openFd(path: string): Promise<number> {
  return new Promise((res, rej) => open(path, 'a', (e, fd) => (e ? rej(e) : res(fd))));
}
