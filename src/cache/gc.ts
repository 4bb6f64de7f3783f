// Garbage collection over every folder the cache store owns. What the last N
// runs used stays; everything else goes, per kind:
//   entries      steps/<key> of keys no kept run used (and their index rows)
//   objects      objects/ files no remaining entry links to (link count 1)
//   work, tmp    scratch of finished executions and half-built commits (first: a
//                half-built entry still links objects)
//   checkpoints  checkpoints/<key> of keys no kept run needs
//   logs         logs/<exec>.log no kept run's execution points at
//   locks        execution locks and env lock files whose owner process is gone
//   quarantine   objects found damaged (kept for inspection until the next gc)
//   envs         managed Python envs not used since the oldest kept run started, and half-built ones
//   file states  file_state rows of paths that no longer exist
//   slurm        slurm/<key>.json job records whose work dir is gone (nothing left to adopt)
//   latest       latest/ links to entries that are gone
// It refuses to run while a run is in progress on the same cache; its caller holds the cache
// exclusively (run-lock.ts), so no run starts planning meanwhile and two gcs serialize.

import { readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { lockHeld } from '../proc/lock.js';
import { failpoint } from './failpoint.js';
import type { DB } from '../store/db.js';
import type { KeyLocks } from '../store/locks.js';
import type { Records } from '../store/records.js';
import type { CacheStore } from './store.js';

export type GcKind = 'objects' | 'work' | 'tmp' | 'checkpoints' | 'logs' | 'locks' | 'envs' | 'quarantine' | 'file states' | 'slurm' | 'latest';

export interface GcReport {
  /** Runs whose results were kept. */
  keptRuns: number;
  /** Cache entries removed. */
  entries: number;
  /** Per kind: items removed and bytes freed (file states: rows, 0 bytes). */
  freed: Record<GcKind, { items: number; bytes: number }>;
}

export class GcRefused extends Error {}

interface GcScope {
  db: DB;
  store: CacheStore;
  records: Records;
  locks: KeyLocks;
}

/** Bytes a path holds on its own: a file shared by hard links (objects) counts where its last link goes. */
async function sizeOf(p: string): Promise<number> {
  const st = await stat(p).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.nlink <= 1 ? st.size : 0;
  let n = 0;
  for (const e of await readdir(p)) n += await sizeOf(join(p, e));
  return n;
}

const list = (dir: string) => readdir(dir).catch(() => [] as string[]);

export async function collectGarbage(ws: GcScope, keep: number): Promise<GcReport> {
  ws.records.markCrashedRuns();
  // By liveness, not by the rows' status: on a full or read-only disk a dead run's row cannot be marked.
  const running = ws.records.liveRuns();
  if (running) throw new GcRefused(`${running} run(s) in progress on ${ws.store.dir}; gc when they end`);
  failpoint('gc:checked');
  const runs = ws.records.recentRuns(keep);
  const liveKeys = new Set<string>();
  const liveLogs = new Set<string>();
  for (const r of runs) {
    for (const e of ws.records.executions(r.id)) {
      if (e.key) liveKeys.add(e.key);
      if (e.log_path) liveLogs.add(e.log_path);
    }
  }
  const freed = Object.fromEntries(
    (['objects', 'work', 'tmp', 'checkpoints', 'logs', 'locks', 'envs', 'quarantine', 'file states', 'slurm', 'latest'] as GcKind[]).map((k) => [k, { items: 0, bytes: 0 }]),
  ) as GcReport['freed'];
  const drop = async (kind: GcKind, path: string) => {
    freed[kind].bytes += await sizeOf(path);
    freed[kind].items++;
    await rm(path, { recursive: true, force: true });
  };

  // Scratch first: removing it needs no database write, and on a full disk it makes the room the
  // database needs to record the rest.
  for (const [kind, dir] of [['work', ws.store.layout.work], ['tmp', ws.store.layout.tmp], ['quarantine', ws.store.layout.quarantine]] as const) {
    for (const n of await list(dir)) await drop(kind, join(dir, n));
  }
  const entries = await dropEntries(ws, liveKeys);
  await dropObjects(ws, freed);
  for (const key of await list(ws.store.layout.checkpoints)) if (!liveKeys.has(key)) await drop('checkpoints', join(ws.store.layout.checkpoints, key));
  for (const n of await list(ws.store.layout.logs)) if (!liveLogs.has(join(ws.store.layout.logs, n))) await drop('logs', join(ws.store.layout.logs, n));
  freed.locks.items += ws.locks.removeStale() + ws.store.pins.removeStale();
  for (const n of (await list(ws.store.layout.envs)).filter((f) => f.endsWith('.lock'))) if (await staleLock(join(ws.store.layout.envs, n))) await drop('locks', join(ws.store.layout.envs, n));
  const since = runs.length ? Math.min(...runs.map((r) => r.started_at)) : Infinity;
  for (const n of await list(ws.store.layout.envs)) {
    if (n.endsWith('.lock')) continue;
    if (n.includes('.tmp-') || (await lastUsed(join(ws.store.layout.envs, n))) < since) await drop('envs', join(ws.store.layout.envs, n));
  }
  freed['file states'].items = await dropFileStates(ws.db);
  const { slurm, latest } = ws.store.layout;
  for (const n of await list(slurm)) if (!(await jobWorkDirExists(join(slurm, n)))) await drop('slurm', join(slurm, n));
  for (const recipe of await list(latest)) {
    for (const n of await list(join(latest, recipe))) if (!(await exists(join(latest, recipe, n)))) await drop('latest', join(latest, recipe, n));
    await rmdir(join(latest, recipe)).catch(() => undefined); // only when emptied
  }
  return { keptRuns: runs.length, entries, freed };
}

async function dropEntries(ws: GcScope, liveKeys: Set<string>): Promise<number> {
  let removed = 0;
  for (const key of await list(ws.store.layout.steps)) {
    if (liveKeys.has(key)) continue;
    await ws.store.removeEntry(key);
    removed++;
  }
  return removed;
}

/** An object whose only link is its own name is no longer part of any entry. */
async function dropObjects(ws: GcScope, freed: GcReport['freed']): Promise<void> {
  const { store } = ws;
  const forget = ws.db.prepare('DELETE FROM objects WHERE digest = ?');
  for (const shard of await list(store.layout.objects)) {
    for (const name of await list(join(store.layout.objects, shard))) {
      const p = join(store.layout.objects, shard, name);
      const st = await stat(p);
      if (st.nlink > 1) continue;
      freed.objects.bytes += st.size;
      freed.objects.items++;
      await rm(p, { force: true });
      forget.run(name);
    }
  }
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * Whether a Slurm job record (executors/slurm.ts) can still serve adoption: a finished job is
 * adopted from its work dir, so a record whose work dir is gone (or that cannot be read) is dead.
 */
async function jobWorkDirExists(record: string): Promise<boolean> {
  const rec = await readFile(record, 'utf8')
    .then((t) => JSON.parse(t) as { workDir?: unknown })
    .catch(() => undefined); // gone, torn or not JSON
  return typeof rec?.workDir === 'string' && (await exists(rec.workDir));
}

async function staleLock(path: string): Promise<boolean> {
  return !(await lockHeld(path));
}

/** When an env was last used: its marker's mtime (ensurePythonEnv touches it on every use). */
async function lastUsed(envDir: string): Promise<number> {
  const st = await stat(join(envDir, 'flow-env.json')).catch(() => undefined);
  return st ? st.mtimeMs : 0;
}

/** file_state rows of paths that are gone: they can never match again. */
async function dropFileStates(db: DB): Promise<number> {
  const rows = db.prepare<[], { path: string }>('SELECT path FROM file_state').all();
  const del = db.prepare('DELETE FROM file_state WHERE path = ?');
  let n = 0;
  for (const { path } of rows) {
    if (await stat(path).then(() => true, () => false)) continue;
    del.run(path);
    n++;
  }
  return n;
}
