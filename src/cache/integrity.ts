// Whether committed bytes are still what their names say. Every object's (size, mtime, ctime,
// inode) is recorded in the objects table when the store last touched it; a lookup stats an
// entry's files against that record (stat-rule.ts, git's index rule), so an object edited in
// place, or a file added to or removed from an entry, is never served. A damaged object is
// quarantined so dedup never links it again. An entry without its row is checked by hashing.

import { lstatSync, type BigIntStats } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DB } from '../store/db.js';
import { isExec, objectId, OutputError, parseObjectId, type Entry, type StoredFile } from './entry.js';
import { hashFileContent } from './hash.js';
import type { CacheLayout } from './layout.js';
import { unchanged, type StatRecord } from './stat-rule.js';

/** What integrity checks cost in this process, for bench/noop.ts: entries and files stat-checked, files re-hashed. */
export const integrityStats = { entries: 0, files: 0, rehashed: 0 };

interface Problem {
  text: string;
  badDigests: string[];
}

export class Integrity {
  private readonly q;
  private readonly putObjectsTx: (rows: Array<[string, BigIntStats]>) => void;

  constructor(
    private readonly layout: CacheLayout,
    db: DB,
  ) {
    this.q = {
      object: db.prepare<[string], StatRecord>('SELECT size, mtime_ns, ctime_ns, inode FROM objects WHERE digest = ?'),
      putObject: db.prepare(
        `INSERT INTO objects (digest, size, mtime_ns, ctime_ns, inode) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT(digest) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
           ctime_ns = excluded.ctime_ns, inode = excluded.inode`,
      ),
      dropObject: db.prepare('DELETE FROM objects WHERE digest = ?'),
    };
    this.putObjectsTx = db.transaction((rows: Array<[string, BigIntStats]>) => {
      for (const [d, st] of rows) this.q.putObject.run(d, Number(st.size), st.mtimeNs.toString(), st.ctimeNs.toString(), st.ino.toString());
    });
  }

  /**
   * Stats every file of an entry against its object's record, and looks for files that
   * appeared. Returns what is wrong, or undefined when the entry is intact.
   */
  async checkStat(entry: Entry): Promise<Problem | undefined> {
    const dir = this.layout.entryDir(entry.key);
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
  async intact(f: { digest?: string; exec?: boolean }, path: string, st: BigIntStats): Promise<boolean> {
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
  async verifyByHash(entry: Entry): Promise<Problem | undefined> {
    const dir = this.layout.entryDir(entry.key);
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

  /** Re-hashes every object in objects/ (`flow verify`): their count, bytes and the damaged ones by objectId. */
  async hashAllObjects(): Promise<{ objects: number; bytes: number; damaged: string[] }> {
    let objects = 0;
    let bytes = 0;
    const damaged: string[] = [];
    for (const shard of await readdir(this.layout.objects).catch(() => [] as string[])) {
      for (const name of await readdir(join(this.layout.objects, shard))) {
        const p = join(this.layout.objects, shard, name);
        const st = await lstat(p);
        objects++;
        bytes += st.size;
        const { digest, exec } = parseObjectId(name);
        if (!st.isFile() || isExec(st.mode) !== exec || (await hashFileContent(p, st.size)) !== digest) damaged.push(name);
      }
    }
    return { objects, bytes, damaged };
  }

  /** Moves objects (by objectId) out of objects/ so that dedup can never link their bytes again. */
  async quarantine(digests: string[]): Promise<void> {
    if (!digests.length) return;
    await mkdir(this.layout.quarantine, { recursive: true });
    for (const d of new Set(digests)) {
      this.q.dropObject.run(d);
      await rename(this.layout.objectPath(d), join(this.layout.quarantine, `${d}.${Date.now()}`)).catch(() => undefined);
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
  async refresh(files: StoredFile[], mode: 'commit' | 'after-unlink', seen?: Map<string, BigIntStats>): Promise<void> {
    const ids = new Map(files.flatMap((f) => (f.digest ? [[objectId(f.digest, f.exec), f] as const] : [])));
    const rows: Array<[string, BigIntStats]> = [];
    const bad: string[] = [];
    for (const [id, f] of ids) {
      const rec = mode === 'after-unlink' ? this.q.object.get(id) : undefined;
      const was = seen?.get(id);
      if (mode === 'after-unlink' && !rec) continue;
      const p = this.layout.objectPath(id);
      const st = lstatSync(p, { bigint: true, throwIfNoEntry: false });
      if (!st) continue;
      const moved =
        (rec && (rec.size !== Number(st.size) || rec.mtime_ns !== st.mtimeNs.toString() || rec.inode !== st.ino.toString())) ||
        (was && !sameContentStat(was, st));
      if (moved && (was || (await hashFileContent(p)) !== f.digest)) bad.push(id);
      else rows.push([id, st]);
    }
    if (rows.length) this.putObjectsTx(rows);
    await this.quarantine(bad);
    if (mode === 'commit' && bad.length) {
      const f = ids.get(bad[0]!)!;
      throw new OutputError(`${f.path} changed while it was being committed: a process the step started (one it left running?) still writes it`);
    }
  }

  /** Removes a tree of store links and re-records the objects it linked. */
  async removeTree(dir: string, files: StoredFile[]): Promise<void> {
    await rm(dir, { recursive: true, force: true });
    await this.refresh(files, 'after-unlink');
  }
}

/** Same size, mtime, ctime and inode: nothing wrote to or replaced the file between the two stats. */
export function sameFile(a: BigIntStats, b: BigIntStats): boolean {
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
