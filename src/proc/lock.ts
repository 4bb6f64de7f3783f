// A per-key lock file so two flow processes never execute (and commit) the
// same step at once. The file holds the owner's pid: a lock whose owner is
// dead (SIGKILL, power loss) is taken over at once instead of after a
// timeout, which is why this is not proper-lockfile (mtime-based staleness).

import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { isAlive } from './alive.js';

export interface Lock {
  release(): Promise<void>;
}

async function tryLock(path: string): Promise<Lock | number> {
  try {
    const fh = await open(path, 'wx');
    await fh.writeFile(String(process.pid));
    await fh.close();
    return { release: () => unlink(path).catch(() => undefined) };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const pid = Number((await readFile(path, 'utf8').catch(() => '')).trim());
  if (!pid || !isAlive(pid) || pid === process.pid) {
    // Stale lock of a dead process: remove and try again.
    await unlink(path).catch(() => undefined);
    return tryLock(path);
  }
  return pid;
}

/** Takes the lock, waiting while another live process holds it; `onWait` is told once who holds it. */
export async function acquireLock(path: string, signal: AbortSignal, onWait: (pid: number) => void): Promise<Lock> {
  await mkdir(dirname(path), { recursive: true });
  let told = false;
  for (;;) {
    const r = await tryLock(path);
    if (typeof r !== 'number') return r;
    if (!told) {
      onWait(r);
      told = true;
    }
    if (signal.aborted) throw new Error('cancelled');
    await new Promise((res) => setTimeout(res, 250));
  }
}
