// The store's work off the steps' path: fsync of a file or folder, the batched fsync of
// steps/ shared by every commit of an interval, and the removals nothing waits for. A failure
// of background work is reported by `settle`, at the end of the run.

import { closeSync, constants, fsync, openSync } from 'node:fs';

/**
 * fsync of a file or folder. Opening and closing are synchronous (microseconds); only the
 * sync itself, which waits for the disk, goes to the thread pool.
 */
export function fsyncPath(path: string): Promise<void> {
  return new Promise((res, rej) => {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY);
    } catch (e) {
      rej(e); // a rejection, never a throw: a batched sync runs from a timer
      return;
    }
    fsync(fd, (e) => {
      closeSync(fd);
      if (e) rej(e);
      else res();
    });
  });
}

/**
 * fsyncs many files, a window of them at a time: syncs issued together share the file system's
 * journal commits, where one after another each waits for its own.
 */
export async function fsyncAll(paths: string[], window = 64): Promise<void> {
  for (let i = 0; i < paths.length; i += window) await Promise.all(paths.slice(i, i + window).map(fsyncPath));
}

/**
 * One folder's fsync for a batch of commits: a commit that renamed its entry into steps/ asks for
 * a sync that starts after its rename, and every commit asking within the same interval shares
 * it. An fsync forces a journal commit that stalls every other file system call of the moment,
 * so hundreds of tiny steps pay a few syncs, not one each. `flush` starts a waiting one now.
 */
export class BatchedSync {
  private waiting?: { promise: Promise<void>; start(): void };
  private lastStart = -Infinity;

  constructor(
    private readonly path: string,
    private readonly intervalMs: number,
  ) {}

  request(): Promise<void> {
    if (this.waiting) return this.waiting.promise;
    let start!: () => void;
    const promise = new Promise<void>((res, rej) => {
      start = () => {
        clearTimeout(timer);
        this.waiting = undefined;
        this.lastStart = performance.now();
        fsyncPath(this.path).then(res, rej);
      };
    });
    const timer = setTimeout(start, Math.max(0, this.lastStart + this.intervalMs - performance.now()));
    this.waiting = { promise, start };
    return promise;
  }

  flush(): void {
    this.waiting?.start();
  }
}

/** Background work tracked until `settle`: its first failure is kept and thrown there. */
export class Background {
  private readonly pending = new Set<Promise<void>>();
  private laterError: unknown;

  later(p: Promise<void>): void {
    const tracked: Promise<void> = p
      .catch((e: unknown) => void (this.laterError ??= e))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Waits for every piece of background work; a failed one is reported here. */
  async settle(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
    if (this.laterError) throw this.laterError;
  }
}
