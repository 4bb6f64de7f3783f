// A lock file for one key, so two flow processes never hold it at once: a Python env being built
// (python/env.ts) and the cache-wide gc/doctor lock (cache/run-lock.ts).
//
// Why a file and not a row in flow.db like the per-key execution locks (store/locks.ts): both
// users must work where no cache database can be trusted or shared. An env folder can be shared
// by several caches (a symlinked envs/, each cache with its own flow.db), and the benches build
// envs with no cache database at all; doctor --rebuild moves flow.db aside and makes a new one,
// and a damaged database must still be lockable. The execution locks stay in SQLite because
// their release joins the commit's own transaction. Both judge owners by proc/identity's one
// liveness check (pid and start time). The file holds its owner (pid and the process's start time, proc/identity): a lock whose
// owner is dead (SIGKILL, power loss) is taken over at once, and a reused pid never fools it,
// which is why this is not proper-lockfile (mtime-based staleness).
//
// No window for two holders:
// - a lock is created whole: its content is written to a private file first and linked into
//   place (link fails if the lock exists), so no reader ever sees an empty, half-written lock;
// - a dead owner's lock is removed only under `<lock>.takeover`, made with O_EXCL and held for
//   the few calls it takes to check the lock is still that same dead one (same inode, same
//   owner) and unlink it. A takeover file left by a process that died in those microseconds is
//   cleared after TAKEOVER_STALE_MS.

import { randomUUID } from 'node:crypto';
import { link, mkdir, open, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isAlive, SELF_START } from './identity.js';

export interface Lock {
  release(): Promise<void>;
}

const TAKEOVER_STALE_MS = 10_000;

interface Owner {
  pid: number;
  start?: string;
  ino: bigint;
}

/** Who holds a lock file, or undefined if there is none. */
async function owner(path: string): Promise<Owner | undefined> {
  try {
    const st = await stat(path, { bigint: true });
    const [pid, start] = (await readFile(path, 'utf8')).trim().split(' ');
    return { pid: Number(pid), start: start || undefined, ino: st.ino };
  } catch {
    return undefined;
  }
}

/** The pid of a lock file's owner if it is alive, else undefined (no lock, or a dead owner's). */
export async function lockOwner(path: string): Promise<number | undefined> {
  const o = await owner(path);
  return o !== undefined && o.pid > 0 && isAlive(o.pid, o.start) ? o.pid : undefined;
}

/** Whether a lock file's owner is alive (gc leaves such a lock alone). */
export async function lockHeld(path: string): Promise<boolean> {
  return (await lockOwner(path)) !== undefined;
}

async function create(path: string): Promise<Lock | undefined> {
  const tmp = `${path}.tmp-${process.pid}-${randomUUID().slice(0, 8)}`;
  await writeFile(tmp, `${process.pid} ${SELF_START}`);
  try {
    await link(tmp, path);
    return { release: () => unlink(path).catch(() => undefined) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return undefined;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Removes `path` if it is still the dead owner's lock `dead`, under the takeover file. */
async function takeOver(path: string, dead: Owner): Promise<void> {
  const guard = `${path}.takeover`;
  let fh;
  try {
    fh = await open(guard, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const st = await stat(guard).catch(() => undefined);
    if (st && Date.now() - st.mtimeMs > TAKEOVER_STALE_MS) await unlink(guard).catch(() => undefined);
    return; // someone else is taking it over: look again later
  }
  try {
    const now = await owner(path);
    if (now && now.ino === dead.ino && now.pid === dead.pid && now.start === dead.start) await unlink(path);
  } finally {
    await fh.close();
    await unlink(guard).catch(() => undefined);
  }
}

/** The lock, or the live owner's pid, or 0 to look again at once (a dead owner's lock was removed). */
async function tryLock(path: string): Promise<Lock | number> {
  const lock = await create(path);
  if (lock) return lock;
  const o = await owner(path);
  if (!o) return 0; // released meanwhile
  if (o.pid > 0 && isAlive(o.pid, o.start)) return o.pid;
  await takeOver(path, o);
  return 0;
}

/** Takes the lock, waiting while another live process holds it; `onWait` is told once who holds it. */
export async function acquireLock(path: string, signal: AbortSignal, onWait: (pid: number) => void): Promise<Lock> {
  await mkdir(dirname(path), { recursive: true });
  let told = false;
  for (let tries = 0; ; tries++) {
    const r = await tryLock(path);
    if (typeof r !== 'number') return r;
    if (signal.aborted) throw new Error('cancelled');
    if (r === 0 && tries < 100) {
      await new Promise((res) => setTimeout(res, 5 + Math.random() * 20));
      continue;
    }
    if (!told && r > 0) {
      onWait(r);
      told = true;
    }
    await new Promise((res) => setTimeout(res, 250));
  }
}
