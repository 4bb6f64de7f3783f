// Committing a result: an execution's outputs become objects/ (deduplicated by content and
// mode) and steps/<key>, built in a folder of its own and renamed into place, so a reader sees
// a whole entry or none, never a partial one. That folder is the work dir itself when it holds
// nothing but the outputs (most small steps: no folder made, none removed), else a staging
// folder in tmp/. Durability: the objects a commit made are fsynced (together) before its entry
// is renamed into steps/; steps/ is fsynced after renames, batched, in the background
// (background.ts).
//
// The store only moves, chmods or links files that are the work dir's own (one link, a real
// file inside the work dir); anything else is copied first, so no file outside the cache is
// ever changed. A symlink in an output is stored as a symlink when it points inside that
// output and refused when it points outside.

import { randomUUID } from 'node:crypto';
// Metadata calls on the commit path (lstat, rename, link, chmod) and the creation of a work
// dir, staging folder or manifest are synchronous: each takes microseconds, where awaiting it
// cost a thread-pool round trip, a dozen per tiny step. (A creation once took most of a
// millisecond here: on ext4 without a journal a new inode skips every inode freed in the last
// half minute, and flow freed one per step until commits were made in place.) What can take
// long stays asynchronous: hashing, copying, fsync.
import {
  chmodSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  type BigIntStats,
} from 'node:fs';
import { copyFile, mkdir, realpath, rename, rm, rmdir, symlink } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { ENTRY_MANIFEST } from '../recipe/types.js';
import { fsyncAll, type Background, type BatchedSync } from './background.js';
import { isExec, MissingOutputError, objectId, OutputError, readManifest, type Entry, type EntryIndex, type OutputRecord, type StoredFile } from './entry.js';
import { failpoint } from './failpoint.js';
import { hashFileContent, sha256 } from './hash.js';
import { sameFile, type Integrity } from './integrity.js';
import type { CacheLayout } from './layout.js';
import { digestFolder } from './manifest.js';

/** What a commit works with: the store's parts. */
export interface CommitScope {
  layout: CacheLayout;
  entries: EntryIndex;
  integrity: Integrity;
  background: Background;
  stepsSync: BatchedSync;
  /** Moves a committed entry aside for its replacement once no live run reads it (store.ts). */
  moveAside(key: string, final: string, aside: string): Promise<void>;
}

/** What one commit gathers while it ingests its outputs. */
interface Ingest {
  /** Each object's stat when its bytes were hashed or verified, checked again when it is recorded. */
  seen: Map<string, BigIntStats>;
  /** Objects this commit made, not yet fsynced. */
  unsynced: string[];
}

export interface CommitOptions {
  replace?: boolean;
  /** The caller's own records of the result, written in the same transaction as its index row. */
  record?: (entry: Entry) => void;
}

/**
 * Moves an execution's outputs into the store and commits steps/<key>. The work dir is
 * consumed: it becomes the entry when it holds only the outputs, else its scratch is removed
 * after the commit (a failed commit leaves it for inspection, and gc).
 * `outputs` maps output name -> path relative to workDir. With `replace` (a forced
 * re-run) the new result takes the place of a committed one; otherwise a result
 * another process committed first is kept and returned. `record` joins the index row's
 * transaction: one database commit per result instead of one per table.
 */
export async function commitEntry(
  s: CommitScope,
  key: string,
  stepId: string,
  execId: string,
  workDir: string,
  outputs: Record<string, string>,
  durationMs: number,
  opts: CommitOptions = {},
): Promise<Entry> {
  const realWork = realpathSync.native(workDir);
  // In place, the entry is built where the outputs lie: no staging folder to make, no work dir
  // to remove afterwards (a freed inode slows later creations: see the note above the imports).
  const inPlace = holdsOnlyOutputs(realWork, outputs);
  const staging = inPlace ? realWork : s.layout.makeDir(s.layout.tmp, `entry-${randomUUID()}`);
  failpoint('commit:staging');
  const records: Record<string, OutputRecord> = {};
  const files: StoredFile[] = [];
  const c: Ingest = { seen: new Map(), unsynced: [] };
  try {
    for (const [name, rel] of Object.entries(outputs)) {
      const src = confined(realWork, rel, name);
      const st = lstatSync(src, { throwIfNoEntry: false });
      if (!st) throw new MissingOutputError(name, rel);
      // A parent folder that is a symlink would let the output live outside the work dir.
      if (realpathSync.native(dirname(src)) !== dirname(src)) throw new OutputError(`output "${name}" (${rel}) lies under a symlinked folder; write it inside the work dir`);
      const dst = inPlace ? src : join(staging, rel);
      if (!inPlace) mkdirSync(dirname(dst), { recursive: true });
      if (st.isSymbolicLink()) throw new OutputError(`output "${name}" (${rel}) is a symlink; write the file or folder itself`);
      if (st.isDirectory()) {
        const d = await ingestDir(s, src, dst, rel, c);
        records[name] = { path: rel, digest: d.digest, size: d.size, kind: 'dir' };
        files.push(...d.files);
      } else if (st.isFile()) {
        const f = await ingestFile(s, src, dst, st.nlink, rel, c);
        records[name] = { path: rel, digest: f.digest, size: f.size, kind: 'file' };
        files.push({ path: rel, digest: f.digest, ...(f.exec ? { exec: true as const } : {}) });
      } else {
        throw new OutputError(`output "${name}" (${rel}) is neither a file nor a folder`);
      }
    }
    const digest = sha256(
      Object.keys(records)
        .sort()
        .map((n) => `${n}\t${records[n]!.digest}`)
        .join('\n'),
    );
    const size = Object.values(records).reduce((a, r) => a + r.size, 0);
    let entry: Entry = { key, stepId, outputs: records, digest, size, durationMs, execId, files };
    // The new objects' bytes reach the disk before an entry that links them is renamed into place:
    // all together, where one fsync each (a journal commit each) was 90% of committing small files.
    await fsyncAll(c.unsynced);
    failpoint('commit:ingested');
    writeFileSync(join(staging, ENTRY_MANIFEST), JSON.stringify(entry, null, 2));
    failpoint('commit:manifest');
    const final = s.layout.entryDir(key);
    try {
      renameSync(staging, final);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
      const theirs = s.entries.get(key);
      if (theirs && !opts.replace) {
        // Another flow process committed the same key first (we waited on no lock): keep theirs.
        await s.integrity.removeTree(staging, files);
        entry = theirs.entry;
      } else {
        // A forced re-run, or a folder the index does not vouch for: ours replaces it, once no
        // other live run reads it (store/pins.ts).
        const aside = join(s.layout.tmp, `replaced-${randomUUID()}`);
        await s.moveAside(key, final, aside);
        failpoint('commit:replaced-aside');
        await rename(staging, final);
        const old = await readManifest(aside, key);
        await s.integrity.removeTree(aside, old?.files ?? []);
      }
    }
    failpoint('commit:renamed');
    s.background.later(s.stepsSync.request());
    await s.integrity.refresh(entry.files, 'commit', c.seen);
    failpoint('commit:objects-recorded');
    s.entries.commit(entry, opts.record);
    failpoint('commit:indexed');
    if (!inPlace) discardExecDir(s.background, realWork);
    return entry;
  } catch (e) {
    // A work dir that was being committed in place stays for inspection; its objects' records
    // are brought up to date, since linking changed their ctime.
    if (inPlace) await s.integrity.refresh(files, 'after-unlink');
    else await s.integrity.removeTree(staging, files);
    throw e;
  }
}

/**
 * Removes an execution's work dir in the background: after a commit it holds only the step's
 * scratch, and nothing waits for it.
 */
function discardExecDir(background: Background, dir: string): void {
  // A removal that fails leaves scratch for gc, which clears work/; it never fails the step.
  // After a commit the folder is usually empty: one rmdir, and a recursive rm only when not.
  background.later(rmdir(dir).catch(() => rm(dir, { recursive: true, force: true }).catch(() => undefined)));
}

/**
 * Puts one regular file into objects/ and links it at dst. A file with other links may be
 * shared with something outside the work dir, so it is copied; only a file that is the work
 * dir's own is moved and made read-only.
 */
async function ingestFile(
  s: CommitScope,
  src: string,
  dst: string,
  nlink: number,
  rel: string,
  c: Ingest,
): Promise<{ digest: string; size: number; exec: boolean }> {
  const original = src;
  if (nlink > 1) {
    const copy = join(s.layout.tmp, `copy-${randomUUID()}`);
    await copyFile(src, copy);
    src = copy;
  }
  // Made read-only first, so that the stat the hash is checked against already has the chmod's ctime.
  chmodSync(src, lstatSync(src).mode & 0o555);
  failpoint('commit:object-chmod');
  const { digest, st } = await hashUnchanging(src, rel);
  const exec = isExec(st.mode);
  const id = objectId(digest, exec);
  const obj = s.layout.objectPath(id);
  mkdirSync(dirname(obj), { recursive: true });
  for (let placed = false, tries = 0; !placed; tries++) {
    // Each retry follows a change another process made (a quarantine, a racing commit).
    if (tries === 8) throw new Error(`${rel}: could not place its object ${id} (it keeps changing)`);
    const have = lstatSync(obj, { bigint: true, throwIfNoEntry: false });
    // An object whose bytes changed since the store made it is never linked again.
    if (have && !(await s.integrity.intact({ digest, exec }, obj, have))) {
      await s.integrity.quarantine([id]);
      continue;
    }
    if (have) {
      unlinkSync(src);
      c.seen.set(id, have);
      break;
    }
    failpoint('commit:object-absent');
    // A link, not a rename: another commit of the same bytes may have made the object since the
    // lstat above, and a rename would silently replace its file under it (its commit would then
    // see the object's inode change and fail, as if a late writer had been at work). A link fails
    // instead, and the loop takes the object that is there.
    try {
      linkSync(src, obj);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    unlinkSync(src);
    placed = true;
    c.seen.set(id, st);
    c.unsynced.push(obj);
    failpoint('commit:object-moved');
  }
  // In place, a shared file was copied, not moved: its name here makes way for the object's link.
  if (original === dst && src !== original) unlinkSync(dst);
  linkSync(obj, dst);
  failpoint('commit:object-linked');
  return { digest, size: Number(st.size), exec };
}

/**
 * Ingests a folder through the one folder walker (manifest.ts): files become objects, a
 * symlink that stays inside the folder is kept as a symlink, one that leaves it is refused.
 */
async function ingestDir(
  s: CommitScope,
  src: string,
  dst: string,
  outRel: string,
  c: Ingest,
): Promise<{ digest: string; size: number; files: StoredFile[] }> {
  const files: StoredFile[] = [];
  const inside = (p: string) => p === src || p.startsWith(src + sep);
  const { digest, size } = await digestFolder(src, {
    dir: (_abs, rel) => mkdir(join(dst, rel), { recursive: true }).then(() => undefined),
    file: async (abs, rel, st) => {
      const f = await ingestFile(s, abs, join(dst, rel), Number(st.nlink), `${outRel}/${rel}`, c);
      files.push({ path: `${outRel}/${rel}`, digest: f.digest, ...(f.exec ? { exec: true as const } : {}) });
      return f.digest;
    },
    link: async (abs, rel, target) => {
      const real = await realpath(abs).catch(() => resolve(dirname(abs), target));
      if (isAbsolute(target) || !inside(resolve(dirname(abs), target)) || !inside(real)) {
        throw new OutputError(`output ${outRel}: ${outRel}/${rel} is a symlink to ${target}, outside the output; copy the file in instead`);
      }
      if (dst !== src) await symlink(target, join(dst, rel)); // in place, the link is already where it belongs
      files.push({ path: `${outRel}/${rel}`, link: target });
    },
    // A FIFO, socket or device has no bytes to store: left in place it would make the entry
    // "damaged" at every lookup, and dropped from a staged copy it would vanish unsaid.
    other: async (_abs, rel, st) => {
      const what = st.isFIFO() ? 'a FIFO (named pipe)' : st.isSocket() ? 'a socket' : 'a device';
      throw new OutputError(`output ${outRel}: ${outRel}/${rel} is ${what}; an output folder may hold only files, folders and symlinks (remove it before the step ends)`);
    },
  });
  return { digest, size, files };
}

/**
 * Whether the work dir holds exactly the outputs, each directly inside it, and nothing else:
 * then it can become the entry itself. An output further down (`a/b.txt`) may share its
 * folder with scratch, so it is committed through a staging folder.
 */
function holdsOnlyOutputs(workDir: string, outputs: Record<string, string>): boolean {
  const names = new Set<string>();
  for (const rel of Object.values(outputs)) {
    const p = resolve(workDir, rel);
    if (dirname(p) !== workDir) return false;
    names.add(basename(p));
  }
  const present = readdirSync(workDir);
  return present.length === names.size && present.every((n) => names.has(n));
}

/** The absolute path of an output, which must stay inside the work dir. */
function confined(workDir: string, rel: string, name: string): string {
  const p = resolve(workDir, rel);
  if (isAbsolute(rel) || (p !== workDir && !p.startsWith(workDir + sep)) || p === workDir) {
    throw new OutputError(`output "${name}" (${rel}) is outside the step's work dir`);
  }
  return p;
}

/**
 * Hashes a file, checking that it did not change meanwhile: its stat after hashing must equal
 * the one before (git's rule for racily clean files). A file that moved is hashed again; one
 * that keeps moving is being written by something still running, and is refused.
 */
async function hashUnchanging(path: string, rel: string): Promise<{ digest: string; st: BigIntStats }> {
  let st = lstatSync(path, { bigint: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    const digest = await hashFileContent(path, Number(st.size));
    failpoint('commit:hashed');
    const after = lstatSync(path, { bigint: true });
    if (sameFile(st, after)) return { digest, st };
    st = after;
  }
  throw new OutputError(`${rel} kept changing while it was being committed: a process the step started (one it left running?) still writes it`);
}
