// Pins: which live runs read which cache entries. A run pins an entry before it looks it up
// (at plan time, or at run time for a key that moved) and when it commits one, and keeps the
// pins until it ends; a forced re-run of the same key (another run's `--force`) does not replace
// a pinned entry's folder until its readers have ended (cache/store.ts, commit). So a reader
// never sees old and new files mixed, and never commits a result made from new bytes under a
// key computed from the old digest. Only what a run reuses is pinned, not what it is about to
// execute: two runs forcing the same step never wait on each other's pins.
//
// Owners are pid + start time (proc/identity): a killed run's pins stop counting at once, and gc
// removes them.

import { isAlive, SELF_START } from '../proc/identity.js';
import { statementCache, type DB } from './db.js';

interface Owner {
  pid: number;
  pid_start: string;
}

export class Pins {
  private readonly sql;
  /** Set while this process runs a recipe (cli/run.ts); `flow plan` and the benches pin nothing. */
  private active = false;

  constructor(db: DB) {
    this.sql = statementCache(db);
  }

  /** From now on, what this process looks up or commits is pinned until releaseAll. */
  hold(): void {
    this.active = true;
  }

  pin(key: string): void {
    if (!this.active) return;
    this.sql('INSERT OR IGNORE INTO pins (key, pid, pid_start) VALUES (?, ?, ?)').run(key, process.pid, SELF_START);
  }

  /** A key this process looked up and will execute rather than read (a miss, or forced). */
  unpin(key: string): void {
    if (!this.active) return;
    this.sql('DELETE FROM pins WHERE key = ? AND pid = ? AND pid_start = ?').run(key, process.pid, SELF_START);
  }

  releaseAll(): void {
    if (!this.active) return;
    this.active = false;
    this.sql('DELETE FROM pins WHERE pid = ? AND pid_start = ?').run(process.pid, SELF_START);
  }

  /** Pids of the live processes other than this one that pin `key`. */
  readers(key: string): number[] {
    return this.sql<[string], Owner>('SELECT pid, pid_start FROM pins WHERE key = ?')
      .all(key)
      .filter((o) => !(o.pid === process.pid && o.pid_start === SELF_START) && isAlive(o.pid, o.pid_start))
      .map((o) => o.pid);
  }

  /** Pins whose owner is gone (for gc). */
  removeStale(): number {
    let n = 0;
    for (const o of this.sql<[], Owner & { key: string }>('SELECT key, pid, pid_start FROM pins').all()) {
      if (isAlive(o.pid, o.pid_start)) continue;
      n += this.sql('DELETE FROM pins WHERE key = ? AND pid = ? AND pid_start = ?').run(o.key, o.pid, o.pid_start).changes;
    }
    return n;
  }
}
