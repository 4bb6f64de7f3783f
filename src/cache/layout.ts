// The one owner of every path under the cache dir: nothing else joins a path under it.
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
//                         (a `/` in either name, as in a matrix value, is written %2F: one name, not a path)
//   reports/              default output folder of plot/report/compare
//   slurm/<key>.json      the Slurm job of a step's execution, for adoption by a later run
//   tensorboard/          default TensorBoard folder of `report_to: tensorboard`
//   trackers/<run>.json   what a run logged to its trackers
//   locks/exclusive.lock, locks/runs/<pid>-<id>   who holds the cache: runs shared, gc and doctor alone (run-lock.ts)

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export class CacheLayout {
  /** The SQLite database: the records, and the cache's index. */
  readonly db: string;
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
  readonly slurm: string;
  readonly tensorboard: string;
  readonly trackers: string;
  /** The run lock's files (run-lock.ts): outside flow.db, which doctor --rebuild moves aside. */
  readonly locks: string;
  private dirsMade = false;

  constructor(readonly dir: string) {
    this.db = join(dir, 'flow.db');
    this.objects = join(dir, 'objects');
    this.steps = join(dir, 'steps');
    this.work = join(dir, 'work');
    this.logs = join(dir, 'logs');
    this.tmp = join(dir, 'tmp');
    this.quarantine = join(dir, 'quarantine');
    this.envs = join(dir, 'envs');
    this.checkpoints = join(dir, 'checkpoints');
    this.latest = join(dir, 'latest');
    this.reports = join(dir, 'reports');
    this.slurm = join(dir, 'slurm');
    this.tensorboard = join(dir, 'tensorboard');
    this.trackers = join(dir, 'trackers');
    this.locks = join(dir, 'locks');
  }

  /** latest/<recipe>/ (see latest.ts). */
  latestDir(recipeName: string): string {
    return join(this.latest, oneName(recipeName));
  }

  /** latest/<recipe>/<step>: a step id such as `train[model=/models/x]` stays one file name. */
  latestLink(recipeName: string, stepId: string): string {
    return join(this.latestDir(recipeName), oneName(stepId));
  }

  /** The record of the Slurm job running a key's execution (see executors/slurm.ts). */
  slurmRecord(key: string): string {
    return join(this.slurm, `${key}.json`);
  }

  /** What a run logged to its trackers. */
  trackerPayload(runId: string): string {
    return join(this.trackers, `${runId}.json`);
  }

  entryDir(key: string): string {
    return join(this.steps, key);
  }

  /** The path of an object by its objectId. */
  objectPath(id: string): string {
    return join(this.objects, id.slice(0, 2), id);
  }

  logPath(execId: string): string {
    return join(this.logs, `${execId}.log`);
  }

  /** The folder that outlives executions of one key: training checkpoints a re-run resumes from. */
  checkpointDir(key: string): string {
    return join(this.checkpoints, key);
  }

  /**
   * A new folder in one of the store's own folders, which are made once per process (and again
   * if something removed them).
   */
  makeDir(parent: string, name: string): string {
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
}

/** A name as one path component: `%` and `/` percent-encoded (so two names never meet), `.` and `..` too. */
function oneName(name: string): string {
  const n = name.replace(/%/g, '%25').replace(/\//g, '%2F');
  return n === '.' || n === '..' ? n.replace(/\./g, '%2E') : n;
}
