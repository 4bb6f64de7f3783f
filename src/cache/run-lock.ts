// The cache-wide lock between runs and the commands that change the cache under them (gc,
// doctor --rebuild). A run holds it shared from before its plan to its end, so what it chose to
// reuse and its work dirs are never collected under it; gc and doctor hold it exclusively, so two
// of them serialize and neither starts while any run is alive (they refuse, as before).
//
// It lives in files under <cache>/locks/, not in flow.db: doctor --rebuild moves the database
// aside and makes a new one, and a damaged or missing database must still be lockable.
//   locks/exclusive.lock    the gc/doctor lock (proc/lock.ts: owner pid + start time, taken
//                           over from a dead owner at once)
//   locks/runs/<pid>-<n>    one file per run holding it shared, naming its owner
// No window between the two sides: each writes its own mark first and looks for the other's
// after (a run: its file, then the exclusive lock; gc: the exclusive lock, then the run files).
// Whichever of the two writes comes second sees the first, so at least one side backs off.
// Liveness is proc/identity's (pid and start time), so a killed run never blocks gc for long.

import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isAlive, SELF_START } from '../proc/identity.js';
import { acquireLock, lockOwner } from '../proc/lock.js';
import { CacheLayout } from './layout.js';

export interface CacheHold {
  release(): Promise<void>;
}

/** A run is in progress: gc or doctor refuses (a usage error: try again when it ends). */
export class CacheBusy extends Error {}

const exclusivePath = (cacheDir: string) => join(new CacheLayout(cacheDir).locks, 'exclusive.lock');
const runsDir = (cacheDir: string) => join(new CacheLayout(cacheDir).locks, 'runs');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Holds the cache for a run (shared with other runs), waiting while a gc or doctor holds it;
 * `onWait` is told once who.
 */
export async function holdForRun(cacheDir: string, signal: AbortSignal, onWait: (pid: number) => void): Promise<CacheHold> {
  const dir = runsDir(cacheDir);
  mkdirSync(dir, { recursive: true });
  const mine = join(dir, `${process.pid}-${randomUUID().slice(0, 8)}`);
  let told = false;
  for (;;) {
    writeFileSync(mine, `${process.pid} ${SELF_START}`);
    const holder = await lockOwner(exclusivePath(cacheDir));
    if (holder === undefined) {
      return { release: async () => unlinkSync(mine) };
    }
    unlinkSync(mine);
    if (!told) {
      onWait(holder);
      told = true;
    }
    if (signal.aborted) throw new Error('cancelled');
    await sleep(250);
  }
}

/** Live runs holding the cache; the files of dead ones are removed on the way. */
export function liveRuns(cacheDir: string): number[] {
  const dir = runsDir(cacheDir);
  const live: number[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return live;
  }
  for (const n of names) {
    const p = join(dir, n);
    let text: string;
    try {
      text = readFileSync(p, 'utf8');
    } catch {
      continue; // released meanwhile
    }
    const [pid, start] = text.trim().split(' ');
    if (Number(pid) > 0 && isAlive(Number(pid), start)) live.push(Number(pid));
    else {
      try {
        unlinkSync(p);
      } catch {
        /* another gc removed it first */
      }
    }
  }
  return live;
}

/**
 * Holds the cache alone (gc, doctor --rebuild): waits for another gc or doctor, then refuses with
 * CacheBusy if any run is alive. `what` names the command in the refusal.
 */
export async function holdExclusive(cacheDir: string, what: string, signal: AbortSignal, onWait: (pid: number) => void): Promise<CacheHold> {
  const lock = await acquireLock(exclusivePath(cacheDir), signal, onWait);
  const runs = liveRuns(cacheDir);
  if (runs.length) {
    await lock.release();
    throw new CacheBusy(`${runs.length} run(s) in progress on ${cacheDir} (pid ${runs.join(', ')}); ${what} when they end`);
  }
  return lock;
}
