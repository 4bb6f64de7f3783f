// Digests of files and folders, memoised in the file_state table: a file whose
// (size, mtime_ns, inode) are unchanged since it was last hashed keeps its
// digest, so a no-op re-run over a 15 GB model folder only stats files.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DB } from '../store/db.js';
import { hashFileContent } from './hash.js';
import { digestFolder } from './manifest.js';

export interface PathDigest {
  digest: string;
  size: number;
  files: number;
  kind: 'file' | 'dir';
}

interface Row {
  size: number;
  mtime_ns: string;
  inode: string;
  digest: string;
}

export class FileStates {
  private readonly get;
  private readonly put;
  /** Digests already computed in this process, keyed by absolute path. */
  private readonly memo = new Map<string, Promise<PathDigest>>();

  constructor(db: DB) {
    this.get = db.prepare<[string], Row>('SELECT size, mtime_ns, inode, digest FROM file_state WHERE path = ?');
    this.put = db.prepare(
      `INSERT INTO file_state (path, size, mtime_ns, inode, digest, checked_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
         inode = excluded.inode, digest = excluded.digest, checked_at = excluded.checked_at`,
    );
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
    const st = await stat(abs, { bigint: true });
    if (st.isDirectory()) return this.digestDir(abs);
    return { digest: await this.digestFile(abs, st), size: Number(st.size), files: 1, kind: 'file' };
  }

  private async digestFile(abs: string, st: import('node:fs').BigIntStats): Promise<string> {
    const size = Number(st.size);
    const mtime = st.mtimeNs.toString();
    const inode = st.ino.toString();
    const row = this.get.get(abs);
    if (row && row.size === size && row.mtime_ns === mtime && row.inode === inode) return row.digest;
    const digest = await hashFileContent(abs);
    this.put.run(abs, size, mtime, inode, digest, Date.now());
    return digest;
  }

  /** A folder's digest covers relative paths, the executable bit and file digests, in sorted order (manifest.ts). */
  private async digestDir(root: string): Promise<PathDigest> {
    const d = await digestFolder(root, { file: (abs, _rel, st) => this.digestFile(abs, st) });
    return { ...d, kind: 'dir' };
  }
}
