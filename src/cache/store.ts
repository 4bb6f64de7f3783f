// The content-addressed store: a facade over its parts, one job each.
//   layout.ts      the one owner of every path under the cache dir
//   entry.ts       what an entry is, its manifest, and the entries table (the index)
//   commit.ts      outputs -> objects/ and steps/<key>, renamed into place whole
//   integrity.ts   stat checks against the objects table, hashing, quarantine, `flow verify`
//   latest.ts      latest/<recipe>/<step> links
//   background.ts  the batched fsync of steps/ and removals nothing waits for
// Execution locks are rows in flow.db (store/locks.ts), not files.
//
// What the store promises (docs/caching.md, "What the cache guarantees"):
// - It never changes a file outside the cache (commit.ts).
// - A lookup stats the entry's files against the objects' records (integrity.ts), so an object
//   edited in place, or a file added to or removed from an entry, is never served.
// - The database is an index: an entry folder without a row (a lost or rebuilt
//   flow.db) is re-hashed before it is trusted again. Integrity never rests on fsync:
//   an entry a power loss cut short is re-run, never served.

import { randomUUID } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Transaction } from 'better-sqlite3';
import type { DB } from '../store/db.js';
import { Pins } from '../store/pins.js';
import { Background, BatchedSync } from './background.js';
import { failpoint } from './failpoint.js';
import { commitEntry, type CommitOptions, type CommitScope } from './commit.js';
import { EntryIndex, objectId, readManifest, type Entry, type Lookup } from './entry.js';
import { Integrity } from './integrity.js';
import { CacheLayout } from './layout.js';
import { linkLatest } from './latest.js';

export { MissingOutputError } from './entry.js';
export type { Entry, Lookup } from './entry.js';
export { integrityStats } from './integrity.js';

/**
 * The folders of scratch no finished execution needs (work dirs, half-built commits): what gc
 * removes first, even before it can open the database on a full disk (cli/gc.ts).
 */
export function scratchDirs(dir: string): { work: string; tmp: string } {
  const { work, tmp } = new CacheLayout(dir);
  return { work, tmp };
}

export class CacheStore {
  /** Which live runs read which entries: a forced replacement waits for them. */
  readonly pins: Pins;
  readonly layout: CacheLayout;
  private readonly entries: EntryIndex;
  private readonly integrity: Integrity;
  private readonly background = new Background();
  private readonly stepsSync: BatchedSync;
  private readonly scope: CommitScope;
  private readonly tryMoveAside: Transaction<(key: string, final: string, aside: string) => number[]>;

  constructor(
    readonly dir: string,
    db: DB,
  ) {
    this.layout = new CacheLayout(dir);
    this.entries = new EntryIndex(db);
    this.integrity = new Integrity(this.layout, db);
    this.pins = new Pins(db);
    this.stepsSync = new BatchedSync(this.layout.steps, 200);
    this.tryMoveAside = db.transaction((key: string, final: string, aside: string): number[] => {
      const readers = this.pins.readers(key);
      if (readers.length) return readers;
      this.entries.drop(key);
      renameSync(final, aside);
      return [];
    });
    this.scope = {
      layout: this.layout,
      entries: this.entries,
      integrity: this.integrity,
      background: this.background,
      stepsSync: this.stepsSync,
      moveAside: (key, final, aside) => this.moveAsideUnpinned(key, final, aside),
    };
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
    for (let waited = false; this.tryMoveAside.immediate(key, final, aside).length; waited = true) {
      if (!waited) failpoint('commit:pinned');
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** See latest.ts. */
  linkLatest(recipeName: string, stepId: string, entry: Entry): Promise<void> {
    return linkLatest(this.layout, recipeName, stepId, entry);
  }

  /** Absolute paths of an entry's outputs. */
  outputPaths(entry: Entry): Record<string, string> {
    const dir = this.layout.entryDir(entry.key);
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
    const row = this.entries.get(key);
    const dir = this.layout.entryDir(key);
    if (!row && !existsSync(dir)) return {}; // the usual miss: a stat, not a failed read
    if (!row || !row.hasFiles) {
      const manifest = await readManifest(dir);
      if (!manifest) {
        if (row) this.entries.drop(key);
        return {};
      }
      const problem = await this.integrity.verifyByHash(manifest);
      if (problem) {
        if (opts.repair) {
          await this.integrity.quarantine(problem.badDigests);
          await this.removeEntry(key, manifest);
        }
        return { damaged: `cached result damaged: ${problem.text}` };
      }
      if (!opts.repair) return { entry: manifest };
      await this.integrity.refresh(manifest.files, 'commit');
      this.entries.put(manifest, row ? undefined : Date.now());
      return { entry: manifest };
    }
    const { entry } = row;
    const problem = await this.integrity.checkStat(entry);
    if (!problem) return { entry };
    if (opts.repair) {
      await this.integrity.quarantine(problem.badDigests);
      await this.removeEntry(key, entry);
    }
    return { damaged: `cached result damaged: ${problem.text}` };
  }

  touch(key: string): void {
    this.entries.touch(key);
  }

  /** See commit.ts. */
  commit(
    key: string,
    stepId: string,
    execId: string,
    workDir: string,
    outputs: Record<string, string>,
    durationMs: number,
    opts: CommitOptions = {},
  ): Promise<Entry> {
    return commitEntry(this.scope, key, stepId, execId, workDir, outputs, durationMs, opts);
  }

  /** Removes a committed entry (its folder and its row), keeping the objects' records true. */
  async removeEntry(key: string, entry?: Entry): Promise<void> {
    const dir = this.layout.entryDir(key);
    const files = entry?.files ?? (await readManifest(dir))?.files ?? [];
    const aside = join(this.layout.tmp, `removed-${randomUUID()}`);
    await mkdir(this.layout.tmp, { recursive: true });
    this.entries.drop(key);
    try {
      await rename(dir, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    await this.integrity.removeTree(aside, files);
  }

  /**
   * Re-hashes every object (`flow verify`): returns the damaged ones by digest. With `repair`,
   * quarantines them and removes every entry that links one.
   */
  async verifyAll(repair: boolean): Promise<{ objects: number; bytes: number; damaged: string[]; entries: string[] }> {
    const { objects, bytes, damaged } = await this.integrity.hashAllObjects();
    const bad = new Set(damaged);
    const entries: string[] = [];
    for (const e of this.entries.all()) {
      const broken = e.files.some((f) => f.digest && bad.has(objectId(f.digest, f.exec))) || (await this.integrity.checkStat(e)) !== undefined;
      if (!broken) continue;
      entries.push(e.key);
      if (repair) await this.removeEntry(e.key, e);
    }
    if (repair) await this.integrity.quarantine(damaged);
    return { objects, bytes, damaged, entries };
  }

  /** Waits for the store's background work; a failed fsync is reported here, at the end of the run. */
  async settle(): Promise<void> {
    this.stepsSync.flush();
    await this.background.settle();
  }

  /** An execution's fresh work dir, created (and logs/ made with the store's other folders). */
  makeExecDir(execId: string): string {
    return this.layout.makeDir(this.layout.work, execId);
  }
}
