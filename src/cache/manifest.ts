// The one folder walker behind every folder digest: the digest of a folder is
// the SHA-256 of its manifest, one line per entry in sorted order:
//   `rel/path/`                    a sub-folder
//   `rel/path\t<x|->\t<digest>`    a file, its executable bit and content digest
// FileStates (inputs) and CacheStore (committed outputs) both use it, so a
// folder read as an input and the same folder committed as an output digest
// equally.

import type { BigIntStats } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from './hash.js';

export interface FolderVisitor {
  /** Called before a sub-folder's entries (relPath '' is the root). */
  dir?(abs: string, relPath: string): Promise<void>;
  /** Returns the content digest of a regular file. */
  file(abs: string, relPath: string, st: BigIntStats): Promise<string>;
}

export interface FolderDigest {
  digest: string;
  size: number;
  files: number;
}

export async function digestFolder(root: string, visit: FolderVisitor): Promise<FolderDigest> {
  const lines: string[] = [];
  let size = 0;
  let files = 0;
  const walk = async (dir: string, rel: string): Promise<void> => {
    await visit.dir?.(dir, rel);
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const abs = join(dir, e.name);
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      const st = await stat(abs, { bigint: true });
      if (st.isDirectory()) {
        lines.push(`${relPath}/`);
        await walk(abs, relPath);
      } else if (st.isFile()) {
        const exec = (Number(st.mode) & 0o111) !== 0 ? 'x' : '-';
        lines.push(`${relPath}\t${exec}\t${await visit.file(abs, relPath, st)}`);
        size += Number(st.size);
        files++;
      }
    }
  };
  await walk(root, '');
  return { digest: sha256(lines.join('\n')), size, files };
}
