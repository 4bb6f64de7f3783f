// Follows a file that another process appends lines to (the events file of a
// launched step whose ranks cannot inherit a pipe) and hands over each whole
// line once. Polling keeps it simple and works on every filesystem.

import { open } from 'node:fs/promises';

export class LineTail {
  private offset = 0;
  private rest = '';
  private timer?: NodeJS.Timeout;
  private reading?: Promise<void>;

  constructor(
    private readonly path: string,
    private readonly onLine: (line: string) => void,
    private readonly intervalMs = 200,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.read(), this.intervalMs);
  }

  /** Stops polling after reading what was written up to now. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.read();
    if (this.rest) this.onLine(this.rest);
    this.rest = '';
  }

  private read(): Promise<void> {
    this.reading = (this.reading ?? Promise.resolve()).then(() => this.readOnce());
    return this.reading;
  }

  private async readOnce(): Promise<void> {
    let fh;
    try {
      fh = await open(this.path, 'r');
    } catch {
      return; // Not written yet.
    }
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        const lines = (this.rest + buf.subarray(0, bytesRead).toString('utf8')).split('\n');
        this.rest = lines.pop() ?? '';
        for (const l of lines) if (l) this.onLine(l);
      }
    } finally {
      await fh.close();
    }
  }
}
