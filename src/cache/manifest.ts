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
  /**
   * Anything else (a FIFO, socket or device): it may throw to refuse it; without it, it is
   * left out of the digest (inputs: reading a FIFO would block).
   */
  other?(abs: string, relPath: string, st: BigIntStats): Promise<void>;
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

/** A folder's manifest lines in order; a nested array stands for a sub-folder's own lines. */
type Lines = Array<string | Lines>;

interface Folder {
  abs: string;
  rel: string;
  lines: Lines;
}

/**
 * Walks a folder without recursion (an explicit stack of folders) and joins the lines without
 * spreading them into a call: a million files, or a deep tree, cost memory, never stack. (A
 * recursive walk that spread a sub-folder's lines into `push` overflowed the stack past
 * ~120,000 files under one sub-folder, after committing for most of an hour.)
 */
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
  /** One entry of a folder: its line, and for a sub-folder the folder to walk next. */
  const entry = async (dir: string, rel: string, name: string): Promise<{ line?: string; sub?: Folder }> => {
    const abs = join(dir, name);
    const relPath = rel ? `${rel}/${name}` : name;
    let st = await fs.lstat(abs);
    if (st.isSymbolicLink()) {
      if (visit.link) {
        const target = await fs.readlink(abs);
        await visit.link(abs, relPath, target);
        return { line: `${relPath}\tl\t${target}` };
      }
      st = await fs.stat(abs);
    }
    if (st.isDirectory()) return { line: `${relPath}/`, sub: { abs, rel: relPath, lines: [] } };
    if (!st.isFile()) {
      await visit.other?.(abs, relPath, st);
      return {};
    }
    const exec = (Number(st.mode) & 0o111) !== 0 ? 'x' : '-';
    const line = `${relPath}\t${exec}\t${await visit.file(abs, relPath, st)}`;
    size += Number(st.size);
    files++;
    return { line };
  };
  /** Visits a folder's entries; returns its sub-folders, in order. */
  const expand = async (f: Folder): Promise<Folder[]> => {
    await visit.dir?.(f.abs, f.rel);
    const names = (await fs.readdir(f.abs)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const subs: Folder[] = [];
    const add = (e: { line?: string; sub?: Folder }) => {
      if (e.line !== undefined) f.lines.push(e.line);
      if (e.sub) {
        f.lines.push(e.sub.lines);
        subs.push(e.sub);
      }
    };
    if (!opts.inputs) {
      for (const n of names) add(await entry(f.abs, f.rel, n));
      return subs;
    }
    for (let i = 0; i < names.length; i += SLICE) {
      for (const e of await Promise.all(names.slice(i, i + SLICE).map((n) => entry(f.abs, f.rel, n)))) add(e);
      await new Promise(setImmediate);
    }
    return subs;
  };
  const top: Folder = { abs: root, rel: '', lines: [] };
  if (opts.inputs) {
    // Inputs: a level of sub-folders at a time, together (the visitor bounds its own hashing).
    for (let level = [top]; level.length; ) {
      const next: Folder[] = [];
      for (const subs of await Promise.all(level.map(expand))) for (const s of subs) next.push(s);
      level = next;
    }
  } else {
    // The store's ingest: depth first, in manifest order, one entry at a time, so a folder is
    // made (visit.dir) before anything is moved into it.
    for (const stack = [top]; stack.length; ) {
      const subs = await expand(stack.pop()!);
      for (let i = subs.length - 1; i >= 0; i--) stack.push(subs[i]!);
    }
  }
  return { digest: sha256(flatten(top.lines).join('\n')), size, files };
}

/** The nested lines in order, flattened with an explicit stack. */
function flatten(lines: Lines): string[] {
  const out: string[] = [];
  const stack: Array<{ lines: Lines; i: number }> = [{ lines, i: 0 }];
  while (stack.length) {
    const top = stack[stack.length - 1]!;
    if (top.i === top.lines.length) {
      stack.pop();
      continue;
    }
    const item = top.lines[top.i++]!;
    if (typeof item === 'string') out.push(item);
    else stack.push({ lines: item, i: 0 });
  }
  return out;
}
