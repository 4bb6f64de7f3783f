// flow gc: src/cache/gc.ts does the work; this prints what it freed per kind.

import { collectGarbage, GcRefused } from '../cache/gc.js';
import { CacheBusy, holdExclusive, type CacheHold } from '../cache/run-lock.js';
import { UsageError } from '../recipe/errors.js';
import { formatBytes } from '../reporters/format.js';
import { cacheDirFrom, openExistingWorkspace } from '../scheduler/workspace.js';
import { EXIT } from './args.js';

export async function cmdGc(o: { keep: number; cacheDir?: string }): Promise<number> {
  const ws = openExistingWorkspace(cacheDirFrom(o.cacheDir));
  let hold: CacheHold | undefined;
  try {
    hold = await holdCacheAlone(ws.cacheDir, 'gc');
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
    await hold?.release();
    ws.close();
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
