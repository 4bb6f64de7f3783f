// flow gc: src/cache/gc.ts does the work; this prints what it freed per kind.

import { collectGarbage, GcRefused } from '../cache/gc.js';
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheBusy, holdExclusive, liveRuns, type CacheHold } from '../cache/run-lock.js';
import { scratchDirs } from '../cache/store.js';
import { UsageError } from '../recipe/errors.js';
import { formatBytes } from '../reporters/format.js';
import { cacheDirFrom, openExistingWorkspace, type Workspace } from '../scheduler/workspace.js';
import { EXIT } from './args.js';

export async function cmdGc(o: { keep: number; cacheDir?: string }): Promise<number> {
  const cacheDir = cacheDirFrom(o.cacheDir);
  if (!existsSync(join(cacheDir, 'flow.db'))) openExistingWorkspace(cacheDir); // its one-line refusal
  const hold = await holdForGc(cacheDir);
  let ws: Workspace;
  try {
    ws = openExistingWorkspace(cacheDir);
  } catch (e) {
    await hold.release();
    throw e;
  }
  try {
    const r = await collectGarbage(ws, o.keep).catch((e: unknown) => {
      throw e instanceof GcRefused ? new UsageError(e.message) : e;
    });
    const total = Object.values(r.freed).reduce((a, k) => a + k.bytes, 0);
    const lines = [`gc: kept entries of the last ${r.keptRuns} run(s); removed ${r.entries} entr${r.entries === 1 ? 'y' : 'ies'}, freed ${formatBytes(total)}`];
    for (const [kind, f] of Object.entries(r.freed)) {
      if (!f.items) continue;
      lines.push(kind === 'file states' ? `  ${kind.padEnd(12)} ${f.items} row(s) of vanished paths` : `  ${kind.padEnd(12)} ${formatBytes(f.bytes)} in ${f.items} item(s)`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    ws.close();
    await hold.release();
  }
}

/**
 * The cache held alone for gc. On a disk so full that not even its lock file can be written, the
 * scratch of dead executions (work/, tmp/) goes first, then the lock is taken: no run is alive
 * (checked) and none can start (a run must write its own lock file first), so no live run owns
 * any of it.
 */
async function holdForGc(cacheDir: string): Promise<CacheHold> {
  try {
    return await holdCacheAlone(cacheDir, 'gc');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') throw e;
    const runs = liveRuns(cacheDir);
    if (runs.length) throw new UsageError(`${runs.length} run(s) in progress on ${cacheDir} (pid ${runs.join(', ')}); gc when they end`);
    for (const dir of Object.values(scratchDirs(cacheDir))) {
      for (const n of await readdir(dir).catch(() => [] as string[])) await rm(join(dir, n), { recursive: true, force: true });
    }
    return holdCacheAlone(cacheDir, 'gc');
  }
}

/**
 * The cache held alone for gc or doctor --rebuild: waits for another of them (said once on
 * stderr), refuses in one line while a run is alive.
 */
export async function holdCacheAlone(cacheDir: string, what: string): Promise<CacheHold> {
  try {
    return await holdExclusive(cacheDir, what, new AbortController().signal, (pid) =>
      process.stderr.write(`${what}: waiting for another gc or doctor (pid ${pid}) to finish\n`),
    );
  } catch (e) {
    throw e instanceof CacheBusy ? new UsageError(e.message) : e;
  }
}
