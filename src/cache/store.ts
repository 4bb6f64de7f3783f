// The content-addressed store, and the one owner of every path under the
// cache dir (nothing else joins a path under it):
//   flow.db               SQLite records (opened by the workspace)
//   objects/ab/<digest>   every output file once, read-only, deduplicated by content
//   steps/<key>/          one committed result: output files as hardlinks into objects/
//   work/<exec>/          an execution's scratch dir (outputs are written here first)
//   logs/<exec>.log       an execution's full log
//   tmp/                  staging of commits
//   locks/<key>.lock      who is executing a key now (pid)
//   envs/<key>/           managed Python environments
//   checkpoints/<key>/    a step's persistent folder across executions of one key (training checkpoints)
//   latest/<recipe>/<step>  symlink to a step's newest result
//   reports/              default output folder of plot/report/compare
// A result is committed by building steps/<key> in tmp/ and renaming it into
// place, after fsync: a reader sees a whole entry or none, never a partial one.

import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  copyFile,
  link,
  lstat,
  mkdir,
  open,
  rename,
  rm,
  stat,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DB } from '../store/db.js';
import { hashFileContent, sha256 } from './hash.js';
import { digestFolder } from './manifest.js';

export interface OutputRecord {
  /** Path inside the entry folder. */
  path: string;
  digest: string;
  size: number;
  kind: 'file' | 'dir';
}

export interface Entry {
  key: string;
  stepId: string;
  outputs: Record<string, OutputRecord>;
  digest: string;
  size: number;
  durationMs: number;
  execId: string;
}

export class CacheStore {
  readonly objects: string;
  readonly steps: string;
  readonly work: string;
  readonly logs: string;
  readonly tmp: string;
  readonly locks: string;
  readonly envs: string;
  readonly checkpoints: string;
  readonly latest: string;
  readonly reports: string;

  private readonly getEntry;

  constructor(
    readonly dir: string,
    private readonly db: DB,
  ) {
    this.getEntry = db.prepare<[string], { key: string; step_id: string; outputs: string; digest: string; size: number; duration_ms: number; exec_id: string }>(
      'SELECT * FROM entries WHERE key = ?',
    );
    this.objects = join(dir, 'objects');
    this.steps = join(dir, 'steps');
    this.work = join(dir, 'work');
    this.logs = join(dir, 'logs');
    this.tmp = join(dir, 'tmp');
    this.locks = join(dir, 'locks');
    this.envs = join(dir, 'envs');
    this.checkpoints = join(dir, 'checkpoints');
    this.latest = join(dir, 'latest');
    this.reports = join(dir, 'reports');
  }

  lockPath(key: string): string {
    return join(this.locks, `${key}.lock`);
  }

  /** The folder that outlives executions of one key: training checkpoints a re-run resumes from. */
  checkpointDir(key: string): string {
    return join(this.checkpoints, key);
  }

  /** latest/<recipe>/<step> points at the step's newest result, for people looking for outputs. */
  async linkLatest(recipeName: string, stepId: string, key: string): Promise<void> {
    const dir = join(this.latest, recipeName);
    await mkdir(dir, { recursive: true });
    const tmp = join(dir, `.${stepId}.${process.pid}.tmp`);
    await rm(tmp, { force: true });
    await symlink(this.entryDir(key), tmp);
    await rename(tmp, join(dir, stepId));
  }

  entryDir(key: string): string {
    return join(this.steps, key);
  }

  /** Absolute paths of an entry's outputs. */
  outputPaths(entry: Entry): Record<string, string> {
    const dir = this.entryDir(entry.key);
    return Object.fromEntries(Object.entries(entry.outputs).map(([n, o]) => [n, join(dir, o.path)]));
  }

  /** The committed entry for a key, if both its record and its folder exist. */
  async lookup(key: string): Promise<Entry | undefined> {
    const row = this.getEntry.get(key);
    if (!row) return undefined;
    try {
      await stat(this.entryDir(key));
    } catch {
      return undefined;
    }
    return {
      key: row.key,
      stepId: row.step_id,
      outputs: JSON.parse(row.outputs),
      digest: row.digest,
      size: row.size,
      durationMs: row.duration_ms,
      execId: row.exec_id,
    };
  }

  touch(key: string): void {
    this.db.prepare('UPDATE entries SET used_at = ? WHERE key = ?').run(Date.now(), key);
  }

  /**
   * Moves an execution's outputs into the store and commits steps/<key>.
   * `outputs` maps output name -> path relative to workDir.
   */
  async commit(
    key: string,
    stepId: string,
    execId: string,
    workDir: string,
    outputs: Record<string, string>,
    durationMs: number,
  ): Promise<Entry> {
    await mkdir(this.tmp, { recursive: true });
    await mkdir(this.steps, { recursive: true });
    const staging = join(this.tmp, `entry-${randomUUID()}`);
    await mkdir(staging);
    const records: Record<string, OutputRecord> = {};
    try {
      for (const [name, rel] of Object.entries(outputs)) {
        const src = join(workDir, rel);
        const dst = join(staging, rel);
        await mkdir(dirname(dst), { recursive: true });
        const st = await lstat(src).catch(() => undefined);
        if (!st) throw new MissingOutputError(name, rel);
        if (st.isDirectory()) {
          const { digest, size } = await this.ingestDir(src, dst);
          records[name] = { path: rel, digest, size, kind: 'dir' };
        } else {
          const { digest, size } = await this.ingestFile(src, dst);
          records[name] = { path: rel, digest, size, kind: 'file' };
        }
      }
      const digest = sha256(
        Object.keys(records)
          .sort()
          .map((n) => `${n}\t${records[n]!.digest}`)
          .join('\n'),
      );
      const size = Object.values(records).reduce((a, r) => a + r.size, 0);
      const entry: Entry = { key, stepId, outputs: records, digest, size, durationMs, execId };
      await writeFile(join(staging, '.flow-entry.json'), JSON.stringify(entry, null, 2));
      await fsyncPath(staging);
      const final = this.entryDir(key);
      try {
        await rename(staging, final);
      } catch (e) {
        // Another flow process committed the same key first: same content, keep theirs.
        const code = (e as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw e;
        await rm(staging, { recursive: true, force: true });
      }
      await fsyncPath(this.steps);
      const now = Date.now();
      this.db
        .prepare(
          `INSERT INTO entries (key, step_id, outputs, digest, size, duration_ms, exec_id, created_at, used_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(key) DO UPDATE SET used_at = excluded.used_at`,
        )
        .run(key, stepId, JSON.stringify(records), digest, size, durationMs, execId, now, now);
      return entry;
    } catch (e) {
      await rm(staging, { recursive: true, force: true });
      throw e;
    }
  }

  /** Moves one file into objects/ (or drops it if the content is already there) and links it at dst. */
  private async ingestFile(src: string, dst: string): Promise<{ digest: string; size: number }> {
    let st = await lstat(src);
    if (st.isSymbolicLink()) {
      // Store the content a link points to, not the link.
      const copy = join(this.tmp, `link-${randomUUID()}`);
      await copyFile(src, copy);
      src = copy;
      st = await lstat(src);
    }
    const digest = await hashFileContent(src);
    const obj = this.objectPath(digest);
    await mkdir(dirname(obj), { recursive: true });
    const exists = await stat(obj).then(
      () => true,
      () => false,
    );
    if (exists) await unlink(src);
    else {
      await chmod(src, st.mode & 0o555);
      await fsyncPath(src);
      await rename(src, obj);
    }
    await link(obj, dst);
    return { digest, size: st.size };
  }

  /** Ingests a folder; its digest is the folder manifest's (manifest.ts), as for inputs. */
  private async ingestDir(src: string, dst: string): Promise<{ digest: string; size: number }> {
    const { digest, size } = await digestFolder(src, {
      dir: (_abs, rel) => mkdir(join(dst, rel), { recursive: true }).then(() => undefined),
      file: async (abs, rel) => (await this.ingestFile(abs, join(dst, rel))).digest,
    });
    return { digest, size };
  }

  objectPath(digest: string): string {
    return join(this.objects, digest.slice(0, 2), digest);
  }

  newExecDir(execId: string): string {
    return join(this.work, execId);
  }

  logPath(execId: string): string {
    return join(this.logs, `${execId}.log`);
  }
}

export class MissingOutputError extends Error {
  constructor(
    readonly output: string,
    readonly path: string,
  ) {
    super(`declared output "${output}" (${path}) was not created`);
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, constants.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
