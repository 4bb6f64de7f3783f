// The one folder walker behind every folder digest: the digest of a folder is
// the SHA-256 of its manifest, one line per entry in sorted order:
//   `rel/path/`                    a sub-folder
//   `rel/path\t<x|->\t<digest>`    a file, its executable bit and content digest
//   `rel/path\tl\t<target>`        a symlink kept as a link (committed outputs); inputs
//                                  follow symlinks and see the target instead
// FileStates (inputs) and CacheStore (committed outputs) both use it, so a
// folder read as an input and the same folder committed as an output digest
// equally.

import type { BigIntStats } from 'node:fs';
import { lstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { lstat, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from './hash.js';

export interface FolderVisitor {
  /** Called before a sub-folder's entries (relPath '' is the root). */
  dir?(abs: string, relPath: string): Promise<void>;
  /** Returns the content digest of a regular file. */
  file(abs: string, relPath: string, st: BigIntStats): Promise<string>;
  /**
   * A symlink, kept as a link when this is given (it may throw to refuse one); without it
   * symlinks are followed.
   */
  link?(abs: string, relPath: string, target: string): Promise<void>;
}

export interface FolderDigest {
  digest: string;
  size: number;
  files: number;
}

export interface WalkOptions {
  /**
   * For inputs: read folders and stats synchronously and visit the entries of a folder together,
   * in slices of SLICE with a yield to the event loop between them. On a warm disk a sync stat
   * costs a fraction of an async one (no thread-pool round trip, no promise), which is what a
   * no-op plan over 100,000 files pays for; the visitor bounds its own hashing. The store's
   * ingest leaves it off, so its moves and links happen one at a time, in order.
   */
  inputs?: boolean;
}

const SLICE = 1024;

export async function digestFolder(root: string, visit: FolderVisitor, opts: WalkOptions = {}): Promise<FolderDigest> {
  const fs = opts.inputs
    ? {
        lstat: async (p: string) => lstatSync(p, { bigint: true }),
        stat: async (p: string) => statSync(p, { bigint: true }),
        readdir: async (p: string) => readdirSync(p),
        readlink: async (p: string) => readlinkSync(p),
      }
    : { lstat: (p: string) => lstat(p, { bigint: true }), stat: (p: string) => stat(p, { bigint: true }), readdir, readlink };
  let size = 0;
  let files = 0;
  const entryLines = async (dir: string, rel: string, name: string): Promise<string[]> => {
    const abs = join(dir, name);
    const relPath = rel ? `${rel}/${name}` : name;
    let st = await fs.lstat(abs);
    if (st.isSymbolicLink()) {
      if (visit.link) {
        const target = await fs.readlink(abs);
        await visit.link(abs, relPath, target);
        return [`${relPath}\tl\t${target}`];
      }
      st = await fs.stat(abs);
    }
    if (st.isDirectory()) return [`${relPath}/`, ...(await walk(abs, relPath))];
    if (!st.isFile()) return [];
    const exec = (Number(st.mode) & 0o111) !== 0 ? 'x' : '-';
    const line = `${relPath}\t${exec}\t${await visit.file(abs, relPath, st)}`;
    size += Number(st.size);
    files++;
    return [line];
  };
  const walk = async (dir: string, rel: string): Promise<string[]> => {
    await visit.dir?.(dir, rel);
    const names = (await fs.readdir(dir)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const out: string[] = [];
    if (!opts.inputs) {
      for (const n of names) out.push(...(await entryLines(dir, rel, n)));
      return out;
    }
    for (let i = 0; i < names.length; i += SLICE) {
      for (const lines of await Promise.all(names.slice(i, i + SLICE).map((n) => entryLines(dir, rel, n)))) out.push(...lines);
      await new Promise(setImmediate);
    }
    return out;
  };
  const lines = await walk(root, '');
  return { digest: sha256(lines.join('\n')), size, files };
}
