// The content-addressed store, and the one owner of every path under the
// cache dir (nothing else joins a path under it):
//   flow.db               SQLite records (opened by the workspace)
//   objects/ab/<digest>   every output file once, read-only, deduplicated by content
//   steps/<key>/          one committed result: output files as hardlinks into objects/
//   quarantine/           objects found changed after commit, moved out of dedup's reach
//   work/<exec>/          an execution's scratch dir (outputs are written here first)
//   logs/<exec>.log       an execution's full log
//   tmp/                  staging of commits
//   envs/<key>/           managed Python environments (and their lock files)
//   checkpoints/<key>/    a step's persistent folder across executions of one key (training checkpoints)
//   latest/<recipe>/<step>  relative symlink to the step's result in the recipe's latest run
//   reports/              default output folder of plot/report/compare
// Execution locks are rows in flow.db (store/locks.ts), not files.
// A result is committed by building steps/<key> in a folder of its own and renaming
// it into place: a reader sees a whole entry or none, never a partial one. That folder
// is the work dir itself when it holds nothing but the outputs (most small steps:
// no folder made, none removed), else a staging folder in tmp/. Durability:
// a new object is fsynced before it is linked; steps/ is fsynced after renames,
// at most every 200 ms for all the commits since, in the background (`settle`
// starts the last one at once and waits for it). Integrity never rests on it:
// every lookup stat-checks the entry's files, and an entry folder without its
// row is re-hashed, so an entry a power loss cut short is re-run, never served.
//
// What the store promises (README "What the cache guarantees"):
// - It only moves, chmods or links files that are the work dir's own (one link, a real
//   file inside the work dir); anything else is copied first, so no file outside the
//   cache is ever changed. A symlink in an output is stored as a symlink when it points
//   inside that output and refused when it points outside.
// - Every object's (size, mtime, ctime, inode) is recorded when the store last touched
//   it; a lookup stats the entry's files against that record (stat-rule.ts), so an
//   object edited in place, or a file added to or removed from an entry, is never served.
//   The damaged object is quarantined so dedup never links it again.
// - The database is an index: an entry folder without a row (a lost or rebuilt
//   flow.db) is re-hashed before it is trusted again.

import { randomUUID } from 'node:crypto';
// Metadata calls on the commit path (lstat, rename, link, chmod) and the creation of a work
// dir, staging folder or manifest are synchronous: each takes microseconds, where awaiting it
// cost a thread-pool round trip, a dozen per tiny step. (A creation once took most of a
// millisecond here: on ext4 without a journal a new inode skips every inode freed in the last
// half minute, and flow freed one per step until commits were made in place.) What can take
// long stays asynchronous: hashing, copying, fsync.
import {
  chmodSync,
  closeSync,
  constants,
  existsSync,
  fsync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  type BigIntStats,
} from 'node:fs';
import {
  copyFile,
  lstat,
  mkdir,
  readFile,
  readdir,
  readlink,
  realpath,
  rename,
  rm,
  rmdir,
  symlink,
} from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ENTRY_MANIFEST } from '../recipe/types.js';
import type { DB } from '../store/db.js';
import { Pins } from '../store/pins.js';
import { failpoint } from './failpoint.js';
import { hashFileContent, sha256 } from './hash.js';
import { digestFolder } from './manifest.js';
import { unchanged, type StatRecord } from './stat-rule.js';

export interface OutputRecord {
  /** Path inside the entry folder. */
  path: string;
  digest: string;
  size: number;
  kind: 'file' | 'dir';
}

/**
 * One file of an entry: a content object (digest, and `exec` for an executable one) or a symlink
 * (link target), path relative to the entry.
 */
export interface StoredFile {
  path: string;
  digest?: string;
  link?: string;
  exec?: true;
}

/**
 * The name of an object in objects/ (and its key in the objects table): its content digest, with
 * `.x` when executable. The mode is part of an object's identity: every link to an inode shares
 * its mode, so executable and plain copies of the same bytes must be two objects.
 */
export function objectId(digest: string, exec: boolean | undefined): string {
  return exec ? `${digest}.x` : digest;
}

/** The content digest an object's name stands for, and whether it is the executable copy. */
export function parseObjectId(id: string): { digest: string; exec: boolean } {
  return id.endsWith('.x') ? { digest: id.slice(0, -2), exec: true } : { digest: id, exec: false };
}

const isExec = (mode: number | bigint) => (Number(mode) & 0o111) !== 0;

export interface Entry {
  key: string;
  stepId: string;
  outputs: Record<string, OutputRecord>;
  digest: string;
  size: number;
  durationMs: number;
  execId: string;
  /** Every file and symlink of every output; what a lookup checks. */
  files: StoredFile[];
}

export interface Lookup {
  entry?: Entry;
  /** Why a committed result cannot be reused ("a.txt changed after commit"). */
  damaged?: string;
}

/** A step error the user can act on (an output that escapes its folder): reported without a stack. */
export class OutputError extends Error {
  override name = 'StepError';
}

export class MissingOutputError extends Error {
  constructor(
    readonly output: string,
    readonly path: string,
  ) {
    super(`declared output "${output}" (${path}) was not created`);
  }
}

interface EntryRow {
  key: string;
  step_id: string;
  outputs: string;
  digest: string;
  size: number;
  duration_ms: number;
  exec_id: string;
  files: string | null;
}

type ObjectRow = StatRecord;

/** What integrity checks cost in this process, for bench/noop.ts: entries and files stat-checked, files re-hashed. */
export const integrityStats = { entries: 0, files: 0, rehashed: 0 };

/**
 * The folders of scratch no finished execution needs (work dirs, half-built commits): what gc
 * removes first, even before it can open the database on a full disk (cli/gc.ts).
 */
export function scratchDirs(dir: string): { work: string; tmp: string } {
  return { work: join(dir, 'work'), tmp: join(dir, 'tmp') };
}

export class CacheStore {
  readonly objects: string;
  readonly steps: string;
  readonly work: string;
  readonly logs: string;
  readonly tmp: string;
  readonly quarantine: string;
  readonly envs: string;
  readonly checkpoints: string;
  readonly latest: string;
  readonly reports: string;

  /** Which live runs read which entries: a forced replacement waits for them. */
  readonly pins: Pins;
  private readonly q;
  private readonly pending = new Set<Promise<void>>();
  private laterError: unknown;
  private dirsMade = false;
  private readonly stepsSync: BatchedSync;
  // Transactions made once: better-sqlite3 builds four wrapper functions per db.transaction() call.
  private readonly indexTx: (entry: Entry, record?: (e: Entry) => void) => void;
  private readonly putObjectsTx: (rows: Array<[string, BigIntStats]>) => void;

  constructor(
    readonly dir: string,
    private readonly db: DB,
  ) {
    this.q = {
      entry: db.prepare<[string], EntryRow>('SELECT * FROM entries WHERE key = ?'),
      object: db.prepare<[string], ObjectRow>('SELECT size, mtime_ns, ctime_ns, inode FROM objects WHERE digest = ?'),
      putObject: db.prepare(
        `INSERT INTO objects (digest, size, mtime_ns, ctime_ns, inode) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(digest) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
           ctime_ns = excluded.ctime_ns, inode = excluded.inode`,
      ),
      dropObject: db.prepare('DELETE FROM objects WHERE digest = ?'),
      dropEntry: db.prepare('DELETE FROM entries WHERE key = ?'),
      putEntry: db.prepare(
        `INSERT INTO entries (key, step_id, outputs, digest, size, duration_ms, exec_id, created_at, used_at, files)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(key) DO UPDATE SET step_id = excluded.step_id, outputs = excluded.outputs, digest = excluded.digest,
           size = excluded.size, duration_ms = excluded.duration_ms, exec_id = excluded.exec_id,
           created_at = excluded.created_at, used_at = excluded.used_at, files = excluded.files`,
      ),
      touch: db.prepare('UPDATE entries SET used_at = ? WHERE key = ?'),
    };
    this.indexTx = db.transaction((entry: Entry, record?: (e: Entry) => void) => {
      this.index(entry, Date.now());
      record?.(entry);
    });
    this.putObjectsTx = db.transaction((rows: Array<[string, BigIntStats]>) => {
      for (const [d, st] of rows) this.q.putObject.run(d, Number(st.size), st.mtimeNs.toString(), st.ctimeNs.toString(), st.ino.toString());
    });
    this.pins = new Pins(db);
    this.objects = join(dir, 'objects');
    this.steps = join(dir, 'steps');
    this.stepsSync = new BatchedSync(this.steps, 200);
    ({ work: this.work, tmp: this.tmp } = scratchDirs(dir));
    this.logs = join(dir, 'logs');
    this.quarantine = join(dir, 'quarantine');
    this.envs = join(dir, 'envs');
    this.checkpoints = join(dir, 'checkpoints');
    this.latest = join(dir, 'latest');
    this.reports = join(dir, 'reports');
  }

  /** The folder that outlives executions of one key: training checkpoints a re-run resumes from. */
  checkpointDir(key: string): string {
    return join(this.checkpoints, key);
  }

  /**
   * latest/<recipe>/<step> points at the step's result in the recipe's latest run, cache hits
   * included, for people looking for outputs: a step without outputs gets none (and loses an
   * old one). Relative links, so a moved cache stays valid. A link that already points there
   * is left alone: a cached re-run rewrites nothing.
   */
  async linkLatest(recipeName: string, stepId: string, entry: Entry): Promise<void> {
    const dir = join(this.latest, recipeName);
    const final = join(dir, stepId);
    // An lstat first: most steps have no link yet, and a failed readlink costs an exception.
    const current = lstatSync(final, { throwIfNoEntry: false })?.isSymbolicLink() ? readlinkSync(final) : undefined;
    if (Object.keys(entry.outputs).length === 0) {
      if (current !== undefined) await rm(final, { force: true });
      return;
    }
    const target = relative(dir, this.entryDir(entry.key));
    if (current === target) return;
    mkdirSync(dir, { recursive: true });
    if (current === undefined) {
      try {
        await symlink(target, final);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; // another run made it meanwhile
      }
    }
    // Replaced through a temporary name and a rename, so a reader never finds the link missing.
    const tmp = join(dir, `.${stepId}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
    await symlink(target, tmp);
    await rename(tmp, final);
  }

  entryDir(key: string): string {
    return join(this.steps, key);
  }

  /** Absolute paths of an entry's outputs. */
  outputPaths(entry: Entry): Record<string, string> {
    const dir = this.entryDir(entry.key);
    return Object.fromEntries(Object.entries(entry.outputs).map(([n, o]) => [n, join(dir, o.path)]));
  }

  /** The committed entry for a key, if it exists and is intact (see `inspect`). */
  async lookup(key: string, opts: { repair?: boolean } = { repair: true }): Promise<Entry | undefined> {
    return (await this.inspect(key, opts)).entry;
  }

  /**
   * Finds and checks a committed entry at stat cost. A damaged one is reported and, with
   * `repair` (what runs do; `flow plan` only reports), removed and its bad objects quarantined.
   * An entry folder with no database row is re-hashed and re-indexed if its bytes match.
   */
  async inspect(key: string, opts: { repair?: boolean } = { repair: true }): Promise<Lookup> {
    const row = this.q.entry.get(key);
    const dir = this.entryDir(key);
    if (!row && !existsSync(dir)) return {}; // the usual miss: a stat, not a failed read
    if (!row || row.files === null) {
      const manifest = await readManifest(dir);
      if (!manifest) {
        if (row) this.q.dropEntry.run(key);
        return {};
      }
      const problem = await this.verifyByHash(manifest);
      if (problem) {
        if (opts.repair) {
          await this.quarantineObjects(problem.badDigests);
          await this.removeEntry(key, manifest);
        }
        return { damaged: `cached result damaged: ${problem.text}` };
      }
      if (!opts.repair) return { entry: manifest };
      await this.refreshObjects(manifest.files, 'commit');
      this.index(manifest, row ? undefined : Date.now());
      return { entry: manifest };
    }
    const entry = rowToEntry(row);
    const problem = await this.checkStat(entry);
    if (!problem) return { entry };
    if (opts.repair) {
      await this.quarantineObjects(problem.badDigests);
      await this.removeEntry(key, entry);
    }
    return { damaged: `cached result damaged: ${problem.text}` };
  }

  touch(key: string): void {
    this.q.touch.run(Date.now(), key);
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
  async commit(
    key: string,
    stepId: string,
    execId: string,
    workDir: string,
    outputs: Record<string, string>,
    durationMs: number,
    opts: {
      replace?: boolean;
      /** The caller's own records of the result, written in the same transaction as its index row. */
      record?: (entry: Entry) => void;
    } = {},
  ): Promise<Entry> {
    const realWork = realpathSync.native(workDir);
    // In place, the entry is built where the outputs lie: no staging folder to make, no work dir
    // to remove afterwards (a freed inode slows later creations: see the note above the imports).
    const inPlace = holdsOnlyOutputs(realWork, outputs);
    const staging = inPlace ? realWork : this.makeDir(this.tmp, `entry-${randomUUID()}`);
    failpoint('commit:staging');
    const records: Record<string, OutputRecord> = {};
    const files: StoredFile[] = [];
    /** Each object's stat when its bytes were hashed or verified, checked again when it is recorded. */
    const seen = new Map<string, BigIntStats>();
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
          const d = await this.ingestDir(src, dst, rel, seen);
          records[name] = { path: rel, digest: d.digest, size: d.size, kind: 'dir' };
          files.push(...d.files);
        } else if (st.isFile()) {
          const s = await this.ingestFile(src, dst, st.nlink, rel, seen);
          records[name] = { path: rel, digest: s.digest, size: s.size, kind: 'file' };
          files.push({ path: rel, digest: s.digest, ...(s.exec ? { exec: true as const } : {}) });
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
      failpoint('commit:ingested');
      writeFileSync(join(staging, ENTRY_MANIFEST), JSON.stringify(entry, null, 2));
      failpoint('commit:manifest');
      const final = this.entryDir(key);
      try {
        renameSync(staging, final);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        const theirs = this.q.entry.get(key);
        if (theirs && !opts.replace) {
          // Another flow process committed the same key first (we waited on no lock): keep theirs.
          await this.removeTree(staging, files);
          entry = rowToEntry(theirs);
        } else {
          // A forced re-run, or a folder the index does not vouch for: ours replaces it, once no
          // other live run reads it (store/pins.ts).
          const aside = join(this.tmp, `replaced-${randomUUID()}`);
          await this.moveAsideUnpinned(key, final, aside);
          failpoint('commit:replaced-aside');
          await rename(staging, final);
          const old = await readManifest(aside, key);
          await this.removeTree(aside, old?.files ?? []);
        }
      }
      failpoint('commit:renamed');
      this.later(this.stepsSync.request());
      await this.refreshObjects(entry.files, 'commit', seen);
      failpoint('commit:objects-recorded');
      this.indexTx(entry, opts.record);
      failpoint('commit:indexed');
      if (!inPlace) this.discardExecDir(realWork);
      return entry;
    } catch (e) {
      // A work dir that was being committed in place stays for inspection; its objects' records
      // are brought up to date, since linking changed their ctime.
      if (inPlace) await this.refreshObjects(files, 'after-unlink');
      else await this.removeTree(staging, files);
      throw e;
    }
  }

  /**
   * Moves a committed entry aside for its replacement, waiting while another live run pins it.
   * The pin check, the row's removal and the rename are one database transaction, and a reader
   * pins before it looks an entry up: a reader either pinned first (we wait) or looks up after
   * the folder moved (it sees no entry, or ours). The rename is synchronous to stay inside it;
   * a kill between the rename and the commit leaves a row whose files are gone, which the next
   * lookup's stat check finds damaged and drops, never serves.
   */
  private async moveAsideUnpinned(key: string, final: string, aside: string): Promise<void> {
    const tryMove = this.db.transaction((): number[] => {
      const readers = this.pins.readers(key);
      if (readers.length) return readers;
      this.q.dropEntry.run(key);
      renameSync(final, aside);
      return [];
    });
    for (let waited = false; tryMove.immediate().length; waited = true) {
      if (!waited) failpoint('commit:pinned');
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Removes a committed entry (its folder and its row), keeping the objects' records true. */
  async removeEntry(key: string, entry?: Entry): Promise<void> {
    const dir = this.entryDir(key);
    const files = entry?.files ?? (await readManifest(dir))?.files ?? [];
    const aside = join(this.tmp, `removed-${randomUUID()}`);
    await mkdir(this.tmp, { recursive: true });
    this.q.dropEntry.run(key);
    try {
      await rename(dir, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    await this.removeTree(aside, files);
  }

  /**
   * Re-hashes every object (`flow verify`): returns the damaged ones by digest. With `repair`,
   * quarantines them and removes every entry that links one.
   */
  async verifyAll(repair: boolean): Promise<{ objects: number; bytes: number; damaged: string[]; entries: string[] }> {
    let objects = 0;
    let bytes = 0;
    const damaged: string[] = [];
    for (const shard of await readdir(this.objects).catch(() => [] as string[])) {
      for (const name of await readdir(join(this.objects, shard))) {
        const p = join(this.objects, shard, name);
        const st = await lstat(p);
        objects++;
        bytes += st.size;
        const { digest, exec } = parseObjectId(name);
        if (!st.isFile() || isExec(st.mode) !== exec || (await hashFileContent(p, st.size)) !== digest) damaged.push(name);
      }
    }
    const bad = new Set(damaged);
    const entries: string[] = [];
    for (const row of this.db.prepare<[], EntryRow>('SELECT * FROM entries').all()) {
      const e = rowToEntry(row);
      const broken = e.files.some((f) => f.digest && bad.has(objectId(f.digest, f.exec))) || (await this.checkStat(e)) !== undefined;
      if (!broken) continue;
      entries.push(e.key);
      if (repair) await this.removeEntry(e.key, e);
    }
    if (repair) await this.quarantineObjects(damaged);
    return { objects, bytes, damaged, entries };
  }

  /** The path of an object by its objectId. */
  objectPath(id: string): string {
    return join(this.objects, id.slice(0, 2), id);
  }

  /**
   * Removes an execution's work dir in the background: after a commit it holds only the step's
   * scratch, and nothing waits for it.
   */
  private discardExecDir(dir: string): void {
    // A removal that fails leaves scratch for gc, which clears work/; it never fails the step.
    // After a commit the folder is usually empty: one rmdir, and a recursive rm only when not.
    this.later(rmdir(dir).catch(() => rm(dir, { recursive: true, force: true }).catch(() => undefined)));
  }

  /** Work the store does off the steps' path (removals, the batched fsync of steps/). */
  private later(p: Promise<void>): void {
    const tracked: Promise<void> = p
      .catch((e: unknown) => void (this.laterError ??= e))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  /** Waits for the store's background work; a failed fsync is reported here, at the end of the run. */
  async settle(): Promise<void> {
    this.stepsSync.flush();
    while (this.pending.size) await Promise.all([...this.pending]);
    if (this.laterError) throw this.laterError;
  }

  /** An execution's fresh work dir, created (and logs/ made with the store's other folders). */
  makeExecDir(execId: string): string {
    return this.makeDir(this.work, execId);
  }

  /**
   * A new folder in one of the store's own folders, which are made once per process (and again
   * if something removed them).
   */
  private makeDir(parent: string, name: string): string {
    const dir = join(parent, name);
    if (!this.dirsMade) this.makeDirs();
    try {
      mkdirSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      this.makeDirs();
      mkdirSync(dir);
    }
    return dir;
  }

  private makeDirs(): void {
    for (const d of [this.tmp, this.steps, this.work, this.logs]) mkdirSync(d, { recursive: true });
    this.dirsMade = true;
  }

  logPath(execId: string): string {
    return join(this.logs, `${execId}.log`);
  }

  private index(entry: Entry, createdAt: number | undefined): void {
    const now = Date.now();
    this.q.putEntry.run(
      entry.key,
      entry.stepId,
      JSON.stringify(entry.outputs),
      entry.digest,
      entry.size,
      entry.durationMs,
      entry.execId,
      createdAt ?? now,
      now,
      JSON.stringify(entry.files),
    );
  }

  /**
   * Stats every file of an entry against its object's record, and looks for files that
   * appeared. Returns what is wrong, or undefined when the entry is intact.
   */
  private async checkStat(entry: Entry): Promise<{ text: string; badDigests: string[] } | undefined> {
    const dir = this.entryDir(entry.key);
    const bad: string[] = [];
    let first: string | undefined;
    integrityStats.entries++;
    integrityStats.files += entry.files.length;
    const expected = new Set<string>();
    for (const f of entry.files) {
      expected.add(f.path);
      const p = join(dir, f.path);
      const st = await lstat(p, { bigint: true }).catch(() => undefined);
      let why: string | undefined;
      if (!st) why = `${f.path} is missing`;
      else if (f.link !== undefined) {
        if (!st.isSymbolicLink() || (await readlink(p)) !== f.link) why = `${f.path} changed after commit`;
      } else if (!st.isFile() || !(await this.intact(f, p, st))) {
        why = `${f.path} changed after commit`;
        bad.push(objectId(f.digest!, f.exec));
      } else if (isExec(st.mode) !== Boolean(f.exec)) {
        why = `${f.path} changed mode after commit`;
      }
      first ??= why;
    }
    if (!first) {
      // A file added inside an output folder is damage too (a step wrote into its input).
      for (const [, o] of Object.entries(entry.outputs)) {
        if (o.kind !== 'dir') continue;
        const extra = await findExtra(join(dir, o.path), o.path, expected);
        if (extra) {
          first = `${extra} appeared after commit`;
          break;
        }
      }
    }
    return first ? { text: first, badDigests: bad } : undefined;
  }

  /**
   * Whether the file at `path` (an object, or an entry's link to it) still holds `digest`'s bytes.
   * Its stat agreeing with the record is enough (git's index rule, ctime included); any other
   * stat, as after another process linked the object (a new ctime), is settled by hashing, and
   * a file that still hashes right has its new stat recorded.
   */
  private async intact(f: { digest?: string; exec?: boolean }, path: string, st: BigIntStats): Promise<boolean> {
    const id = objectId(f.digest!, f.exec);
    const rec = this.q.object.get(id);
    if (rec && unchanged(rec, st)) return true;
    integrityStats.rehashed++;
    if ((await hashFileContent(path, Number(st.size))) !== f.digest) return false;
    const now = await lstat(path, { bigint: true });
    // Recorded only if nothing moved while it was hashed (as `commit` checks): a link another
    // process made meanwhile (a new ctime) is no damage, but its stat is not vouched for.
    if (sameFile(st, now)) this.q.putObject.run(id, Number(now.size), now.mtimeNs.toString(), now.ctimeNs.toString(), now.ino.toString());
    return true;
  }

  /** Hashes an unindexed entry's files: its manifest is trusted only if the bytes agree. */
  private async verifyByHash(entry: Entry): Promise<{ text: string; badDigests: string[] } | undefined> {
    const dir = this.entryDir(entry.key);
    for (const f of entry.files) {
      const p = join(dir, f.path);
      const st = await lstat(p).catch(() => undefined);
      if (!st) return { text: `${f.path} is missing`, badDigests: [] };
      if (f.link !== undefined) {
        if (!st.isSymbolicLink() || (await readlink(p)) !== f.link) return { text: `${f.path} changed after commit`, badDigests: [] };
      } else if (!st.isFile() || (await hashFileContent(p)) !== f.digest) {
        // The entry's file is a link to objects/<digest>: those bytes are bad too.
        return { text: `${f.path} changed after commit`, badDigests: [objectId(f.digest!, f.exec)] };
      } else if (isExec(st.mode) !== Boolean(f.exec)) {
        return { text: `${f.path} changed mode after commit`, badDigests: [] };
      }
    }
    return undefined;
  }

  /** Moves objects (by objectId) out of objects/ so that dedup can never link their bytes again. */
  private async quarantineObjects(digests: string[]): Promise<void> {
    if (!digests.length) return;
    await mkdir(this.quarantine, { recursive: true });
    for (const d of new Set(digests)) {
      this.q.dropObject.run(d);
      await rename(this.objectPath(d), join(this.quarantine, `${d}.${Date.now()}`)).catch(() => undefined);
    }
  }

  /**
   * Records the current stat of each object, after the store linked or unlinked it (a link
   * count change moves the inode's ctime). Only the store's own change is followed: an object
   * whose size, mtime or inode moved since it was last seen (`seen`: its stat when `commit`
   * hashed or verified it; else its record) is re-hashed, and quarantined rather than blessed if
   * its bytes changed. In a commit that is a writer still at work on an output (one the step
   * left running, out of flow's reach): the commit fails rather than record its stat.
   */
  private async refreshObjects(files: StoredFile[], mode: 'commit' | 'after-unlink', seen?: Map<string, BigIntStats>): Promise<void> {
    const ids = new Map(files.flatMap((f) => (f.digest ? [[objectId(f.digest, f.exec), f] as const] : [])));
    const rows: Array<[string, BigIntStats]> = [];
    const bad: string[] = [];
    for (const [id, f] of ids) {
      const rec = mode === 'after-unlink' ? this.q.object.get(id) : undefined;
      const was = seen?.get(id);
      if (mode === 'after-unlink' && !rec) continue;
      const p = this.objectPath(id);
      const st = lstatSync(p, { bigint: true, throwIfNoEntry: false });
      if (!st) continue;
      const moved =
        (rec && (rec.size !== Number(st.size) || rec.mtime_ns !== st.mtimeNs.toString() || rec.inode !== st.ino.toString())) ||
        (was && !sameContentStat(was, st));
      if (moved && (was || (await hashFileContent(p)) !== f.digest)) bad.push(id);
      else rows.push([id, st]);
    }
    if (rows.length) this.putObjectsTx(rows);
    await this.quarantineObjects(bad);
    if (mode === 'commit' && bad.length) {
      const f = ids.get(bad[0]!)!;
      throw new OutputError(`${f.path} changed while it was being committed: a process the step started (one it left running?) still writes it`);
    }
  }

  /** Removes a tree of store links and re-records the objects it linked. */
  private async removeTree(dir: string, files: StoredFile[]): Promise<void> {
    await rm(dir, { recursive: true, force: true });
    await this.refreshObjects(files, 'after-unlink');
  }

  /**
   * Puts one regular file into objects/ and links it at dst. A file with other links may be
   * shared with something outside the work dir, so it is copied; only a file that is the work
   * dir's own is moved and made read-only.
   */
  private async ingestFile(
    src: string,
    dst: string,
    nlink: number,
    rel: string,
    seen: Map<string, BigIntStats>,
  ): Promise<{ digest: string; size: number; exec: boolean }> {
    const original = src;
    if (nlink > 1) {
      const copy = join(this.tmp, `copy-${randomUUID()}`);
      await copyFile(src, copy);
      src = copy;
    }
    // Made read-only first, so that the stat the hash is checked against already has the chmod's ctime.
    chmodSync(src, lstatSync(src).mode & 0o555);
    failpoint('commit:object-chmod');
    const { digest, st } = await hashUnchanging(src, rel);
    const exec = isExec(st.mode);
    const id = objectId(digest, exec);
    const obj = this.objectPath(id);
    mkdirSync(dirname(obj), { recursive: true });
    let have = lstatSync(obj, { bigint: true, throwIfNoEntry: false });
    // An object whose bytes changed since the store made it is never linked again.
    if (have && !(await this.intact({ digest, exec }, obj, have))) {
      await this.quarantineObjects([id]);
      have = undefined;
    }
    if (have) {
      unlinkSync(src);
      seen.set(id, have);
    } else {
      await fsyncPath(src);
      renameSync(src, obj);
      seen.set(id, st);
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
  private async ingestDir(
    src: string,
    dst: string,
    outRel: string,
    seen: Map<string, BigIntStats>,
  ): Promise<{ digest: string; size: number; files: StoredFile[] }> {
    const files: StoredFile[] = [];
    const inside = (p: string) => p === src || p.startsWith(src + sep);
    const { digest, size } = await digestFolder(src, {
      dir: (_abs, rel) => mkdir(join(dst, rel), { recursive: true }).then(() => undefined),
      file: async (abs, rel, st) => {
        const s = await this.ingestFile(abs, join(dst, rel), Number(st.nlink), `${outRel}/${rel}`, seen);
        files.push({ path: `${outRel}/${rel}`, digest: s.digest, ...(s.exec ? { exec: true as const } : {}) });
        return s.digest;
      },
      link: async (abs, rel, target) => {
        const real = await realpath(abs).catch(() => resolve(dirname(abs), target));
        if (isAbsolute(target) || !inside(resolve(dirname(abs), target)) || !inside(real)) {
          throw new OutputError(`output ${outRel}: ${outRel}/${rel} is a symlink to ${target}, outside the output; copy the file in instead`);
        }
        if (dst !== src) await symlink(target, join(dst, rel)); // in place, the link is already where it belongs
        files.push({ path: `${outRel}/${rel}`, link: target });
      },
    });
    return { digest, size, files };
  }

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

/** Same size, mtime, ctime and inode: nothing wrote to or replaced the file between the two stats. */
function sameFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

/** Same size, mtime and inode: the bytes were not written (links and chmods move only the ctime). */
function sameContentStat(a: BigIntStats, b: BigIntStats): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ino === b.ino;
}


async function findExtra(dir: string, rel: string, expected: Set<string>): Promise<string | undefined> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const r = `${rel}/${e.name}`;
    if (e.isDirectory()) {
      const found = await findExtra(join(dir, e.name), r, expected);
      if (found) return found;
    } else if (!expected.has(r)) return r;
  }
  return undefined;
}

function rowToEntry(row: EntryRow): Entry {
  return {
    key: row.key,
    stepId: row.step_id,
    outputs: JSON.parse(row.outputs),
    digest: row.digest,
    size: row.size,
    durationMs: row.duration_ms,
    execId: row.exec_id,
    files: row.files ? JSON.parse(row.files) : [],
  };
}

/** An entry folder's own manifest, if it has a readable one that names this folder's key. */
async function readManifest(dir: string, key = basename(dir)): Promise<Entry | undefined> {
  try {
    const e = JSON.parse(await readFile(join(dir, ENTRY_MANIFEST), 'utf8')) as Entry;
    if (typeof e.key !== 'string' || !Array.isArray(e.files) || !e.outputs) return undefined;
    if (key !== undefined && e.key !== key) return undefined;
    return e;
  } catch {
    return undefined;
  }
}

/**
 * fsync of a file or folder. Opening and closing are synchronous (microseconds); only the
 * sync itself, which waits for the disk, goes to the thread pool.
 */
function fsyncPath(path: string): Promise<void> {
  return new Promise((res, rej) => {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY);
    } catch (e) {
      rej(e); // a rejection, never a throw: a batched sync runs from a timer
      return;
    }
    fsync(fd, (e) => {
      closeSync(fd);
      if (e) rej(e);
      else res();
    });
  });
}

/**
 * One folder's fsync for a batch of commits: a commit that renamed its entry into steps/ asks for
 * a sync that starts after its rename, and every commit asking within the same interval shares
 * it. An fsync forces a journal commit that stalls every other file system call of the moment,
 * so hundreds of tiny steps pay a few syncs, not one each. `flush` starts a waiting one now.
 */
class BatchedSync {
  private waiting?: { promise: Promise<void>; start(): void };
  private lastStart = -Infinity;

  constructor(
    private readonly path: string,
    private readonly intervalMs: number,
  ) {}

  request(): Promise<void> {
    if (this.waiting) return this.waiting.promise;
    let start!: () => void;
    const promise = new Promise<void>((res, rej) => {
      start = () => {
        clearTimeout(timer);
        this.waiting = undefined;
        this.lastStart = performance.now();
        fsyncPath(this.path).then(res, rej);
      };
    });
    const timer = setTimeout(start, Math.max(0, this.lastStart + this.intervalMs - performance.now()));
    this.waiting = { promise, start };
    return promise;
  }

  flush(): void {
    this.waiting?.start();
  }
}
