// Per-key execution locks, so two flow processes (or two steps of one run) never
// execute and commit the same key at once. The lock is a row taken in a
// `BEGIN IMMEDIATE` transaction: SQLite serialises the check-and-take, so there
// is no window between "the owner is dead" and "the lock is mine". The owner is
// a pid plus that process's start time (proc/identity), so a dead owner's lock is
// taken over at once and a reused pid never fools it.

import { isAlive, SELF_START } from '../proc/identity.js';
import { statementCache, type DB } from './db.js';

export interface Lock {
  release(): void;
}

interface Owner {
  pid: number;
  pid_start: string;
}

export class KeyLocks {
  /** Keys this process holds, with a queue for a second request of the same key in this run. */
  private readonly held = new Map<string, Promise<void>>();

  private readonly sql;
  /** Undefined when taken; else the live owner. Made once (better-sqlite3 builds four wrappers per transaction()). */
  private readonly take: { immediate(key: string): Owner | undefined };

  constructor(db: DB) {
    this.sql = statementCache(db);
    this.take = db.transaction((key: string): Owner | undefined => {
      const owner = this.sql<[string], Owner>('SELECT pid, pid_start FROM locks WHERE key = ?').get(key);
      if (owner && isAlive(owner.pid, owner.pid_start) && !(owner.pid === process.pid && owner.pid_start === SELF_START)) return owner;
      this.sql('INSERT INTO locks (key, pid, pid_start, acquired_at) VALUES (?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET pid = excluded.pid, pid_start = excluded.pid_start, acquired_at = excluded.acquired_at')
        .run(key, process.pid, SELF_START, Date.now());
      return undefined;
    });
  }

  /** Takes the lock of `key`, waiting while another live process (or this one) holds it; `onWait` is told once who. */
  async acquire(key: string, signal: AbortSignal, onWait: (pid: number) => void): Promise<Lock> {
    // Same key twice in one process: wait for our own holder to finish, never run it twice.
    for (let mine = this.held.get(key); mine; mine = this.held.get(key)) {
      onWait(process.pid);
      await mine;
    }
    let done!: () => void;
    this.held.set(key, new Promise<void>((r) => (done = r)));
    let released = false;
    // Idempotent: a commit releases it inside its own transaction, and the caller's finally again.
    const release = () => {
      if (released) return;
      released = true;
      this.sql('DELETE FROM locks WHERE key = ? AND pid = ? AND pid_start = ?').run(key, process.pid, SELF_START);
      this.held.delete(key);
      done();
    };
    let told = false;
    try {
      for (;;) {
        const owner = this.take.immediate(key);
        if (!owner) return { release };
        if (!told) {
          onWait(owner.pid);
          told = true;
        }
        if (signal.aborted) throw new Error('cancelled');
        await new Promise((r) => setTimeout(r, 100));
      }
    } catch (e) {
      this.held.delete(key);
      done();
      throw e;
    }
  }

  /** Locks whose owner is gone (for gc). */
  removeStale(): number {
    let n = 0;
    for (const o of this.sql<[], Owner & { key: string }>('SELECT key, pid, pid_start FROM locks').all()) {
      if (isAlive(o.pid, o.pid_start)) continue;
      n += this.sql('DELETE FROM locks WHERE key = ? AND pid = ? AND pid_start = ?').run(o.key, o.pid, o.pid_start).changes;
    }
    return n;
  }
}
