// flow verify [--repair] and flow doctor --rebuild: the cache's fsck and its index rebuild.

import { existsSync } from 'node:fs';
import { readdir, rename } from 'node:fs/promises';
import { CacheLayout } from '../cache/layout.js';
import { UsageError } from '../recipe/errors.js';
import { formatBytes } from '../reporters/format.js';
import { cacheDirFrom, openExistingWorkspace, openWorkspace, type Workspace } from '../scheduler/workspace.js';
import { holdCacheAlone } from './gc.js';
import { EXIT } from './args.js';

/** Re-hashes every object in the store, like `git fsck`; `--repair` quarantines damaged ones and drops their entries. */
export async function cmdVerify(o: { repair?: boolean; cacheDir?: string }): Promise<number> {
  const ws = openExistingWorkspace(cacheDirFrom(o.cacheDir), { readOnly: !o.repair });
  try {
    const r = await ws.store.verifyAll(Boolean(o.repair));
    const lines = [`verify: ${r.objects} objects, ${formatBytes(r.bytes)} hashed; ${r.damaged.length} damaged, ${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'} affected`];
    for (const d of r.damaged) lines.push(`  damaged object ${d}${o.repair ? ' (quarantined)' : ''}`);
    for (const k of r.entries) lines.push(`  ${o.repair ? 'removed' : 'damaged'} entry ${k} (its step re-runs on the next run)`);
    if (r.damaged.length && !o.repair) lines.push('  run `flow verify --repair` to remove them');
    process.stdout.write(`${lines.join('\n')}\n`);
    return r.damaged.length && !o.repair ? EXIT.failed : EXIT.ok;
  } finally {
    ws.close();
  }
}

/**
 * A new database whose cache index is rebuilt from each entry's own manifest, every file
 * re-hashed first; the old database is kept beside it (it holds the run history).
 */
export async function cmdDoctor(o: { rebuild?: boolean; cacheDir?: string }): Promise<number> {
  const cacheDir = cacheDirFrom(o.cacheDir);
  // Its database may be the thing lost: the folder is what must exist.
  if (!existsSync(cacheDir)) throw new UsageError(`no flow cache at ${cacheDir} (give --cache-dir or FLOW_CACHE)`);
  if (!o.rebuild) {
    process.stdout.write('doctor: nothing asked; `flow doctor --rebuild` rebuilds the cache index from the entries\n');
    return EXIT.ok;
  }
  // Held alone from before the database moves until the new one is built: a run never has its
  // database (and the key locks in it) moved away under it.
  const hold = await holdCacheAlone(cacheDir, 'doctor --rebuild');
  const file = new CacheLayout(cacheDir).db;
  const aside = `${file}.old-${Date.now()}`;
  let ws: Workspace | undefined;
  try {
    for (const ext of ['', '-wal', '-shm']) await rename(file + ext, aside + ext).catch(() => undefined);
    ws = openWorkspace(cacheDir);
    let ok = 0;
    const lines: string[] = [];
    for (const key of await readdir(ws.store.layout.steps).catch(() => [] as string[])) {
      const r = await ws.store.inspect(key);
      if (r.entry) ok++;
      else if (r.damaged) lines.push(`  ${key}: ${r.damaged}; removed`);
    }
    lines.unshift(`doctor: rebuilt the cache index: ${ok} entr${ok === 1 ? 'y' : 'ies'} verified, ${lines.length} damaged and removed; the old database is ${aside}`);
    process.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    ws?.close();
    await hold.release();
  }
}
