// Digests of files and folders, memoised in the file_state table: a file whose
// (size, mtime_ns, inode) are unchanged since it was last hashed keeps its
// digest, so a no-op re-run over a 15 GB model folder only stats files.

import type { BigIntStats } from 'node:fs';
import { statSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import type PQueue from 'p-queue';
import type { DB } from '../store/db.js';
import { hashFileContent } from './hash.js';
import { digestFolder } from './manifest.js';

export interface PathDigest {
  digest: string;
  size: number;
  files: number;
  kind: 'file' | 'dir';
}

/** Files hashed at once: enough to overlap their reads, few enough to bound memory. */
const HASHING = 16;

interface Row {
  size: number;
  mtime_ns: string;
  inode: string;
  digest: string;
}

export class FileStates {
  private readonly get;
  private readonly put;
  private readonly under;
  private readonly putMany;
  /** Rows read in one query for a folder or a set of glob matches, while they are digested. */
  private preloaded: { under: string; rows: Map<string, Row> } | undefined;
  /** New digests, written in one transaction at the end of a folder or a set of matches. */
  private pending: Array<[string, number, string, string, string]> | undefined;
  /** Bounds the files hashed at once; loaded with the first file to hash, so a cached plan never loads p-queue. */
  private hashing: Promise<PQueue> | undefined;
  /** Digests already computed in this process, keyed by absolute path. */
  private readonly memo = new Map<string, Promise<PathDigest>>();

  constructor(db: DB) {
    this.get = db.prepare<[string], Row>('SELECT size, mtime_ns, inode, digest FROM file_state WHERE path = ?');
    this.put = db.prepare(
      `INSERT INTO file_state (path, size, mtime_ns, inode, digest, checked_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
         inode = excluded.inode, digest = excluded.digest, checked_at = excluded.checked_at`,
    );
    this.under = db.prepare<[string, string], Row & { path: string }>('SELECT path, size, mtime_ns, inode, digest FROM file_state WHERE path >= ? AND path < ?');
    this.putMany = db.transaction((rows: Array<[string, number, string, string, string]>) => {
      const now = Date.now();
      for (const r of rows) this.put.run(...r, now);
    });
  }

  /**
   * Digests of many files (an `inputs:` glob's matches, in order): their file_state rows are
   * read in one query, up to HASHING files are hashed at once, and new digests are written in one transaction.
   */
  async digestMany(paths: string[]): Promise<PathDigest[]> {
    const abs = paths.map((p) => resolve(p));
    if (abs.length < 2) return Promise.all(abs.map((p) => this.digest(p)));
    return this.batch(commonDir(abs), async () => {
      const out: PathDigest[] = [];
      // In slices, yielding between them: stats are sync (see compute), a reporter must still draw.
      for (let i = 0; i < abs.length; i += 1024) {
        out.push(...(await Promise.all(abs.slice(i, i + 1024).map((p) => this.digest(p)))));
        await new Promise(setImmediate);
      }
      return out;
    });
  }

  /** Runs `work` with the rows under `dir` preloaded and new rows written at its end (nested calls join the outer batch). */
  private async batch<T>(dir: string, work: () => Promise<T>): Promise<T> {
    if (this.preloaded) return work();
    const lo = dir.endsWith(sep) ? dir : dir + sep;
    const hi = lo.slice(0, -1) + String.fromCharCode(sep.charCodeAt(0) + 1);
    this.preloaded = { under: lo, rows: new Map(this.under.all(lo, hi).map((r) => [r.path, r])) };
    this.pending = [];
    try {
      return await work();
    } finally {
      const rows = this.pending;
      this.preloaded = undefined;
      this.pending = undefined;
      this.putMany(rows);
    }
  }

  /** Digest of a file or folder (recursive). Throws ENOENT for a missing path. */
  digest(path: string): Promise<PathDigest> {
    const abs = resolve(path);
    let p = this.memo.get(abs);
    if (!p) {
      p = this.compute(abs);
      this.memo.set(abs, p);
      p.catch(() => this.memo.delete(abs));
    }
    return p;
  }

  /** Forget in-process memo entries (after a step rewrote files under a path). */
  forget(): void {
    this.memo.clear();
  }

  private async compute(abs: string): Promise<PathDigest> {
    // Sync: a stat of a warm inode is cheaper than the round trip of an async one (manifest.ts).
    const st = statSync(abs, { bigint: true });
    if (st.isDirectory()) return this.digestDir(abs);
    return { digest: await this.digestFile(abs, st), size: Number(st.size), files: 1, kind: 'file' };
  }

  private async digestFile(abs: string, st: BigIntStats): Promise<string> {
    const size = Number(st.size);
    const mtime = st.mtimeNs.toString();
    const inode = st.ino.toString();
    // A path outside the preloaded folder (another digest running meanwhile) is read on its own.
    const row = this.preloaded && abs.startsWith(this.preloaded.under) ? this.preloaded.rows.get(abs) : this.get.get(abs);
    if (row && row.size === size && row.mtime_ns === mtime && row.inode === inode) return row.digest;
    this.hashing ??= import('p-queue').then(({ default: Queue }) => new Queue({ concurrency: HASHING }));
    const digest = (await (await this.hashing).add(() => hashFileContent(abs, size)))!;
    if (this.pending) this.pending.push([abs, size, mtime, inode, digest]);
    else this.put.run(abs, size, mtime, inode, digest, Date.now());
    return digest;
  }

  /** A folder's digest covers relative paths, the executable bit and file digests, in sorted order (manifest.ts). */
  private async digestDir(root: string): Promise<PathDigest> {
    const d = await this.batch(root, () => digestFolder(root, { file: (abs, _rel, st) => this.digestFile(abs, st) }, { inputs: true }));
    return { ...d, kind: 'dir' };
  }
}

/** The deepest folder holding every path of a list. */
function commonDir(paths: string[]): string {
  let dir = dirname(paths[0]!);
  for (const p of paths) while (!p.startsWith(dir.endsWith(sep) ? dir : dir + sep)) dir = dirname(dir);
  return dir;
}
