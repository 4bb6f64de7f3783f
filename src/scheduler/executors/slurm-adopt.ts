// Adoption: the job name ends with the step key, and a record <cache>/slurm/<key>.json
// names the job and its work dir. A coordinator that died leaves its jobs running; the next
// run of the same step finds the job (squeue by name) and waits for it instead of submitting a
// duplicate, or, when it already finished, takes its result. Either way the adopted work dir's
// files move into this execution's work dir, so the engine commits them as if this execution
// had produced them.

import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, TERMINAL } from './slurm-queue.js';
import { JOB_DIR, keyTag } from './slurm-script.js';

export interface JobRecord {
  jobId: string;
  jobName: string;
  workDir: string;
}

/** Records a submitted job for adoption by a later run (written whole, through a rename). */
export async function writeJobRecord(recordPath: string, job: JobRecord): Promise<void> {
  await mkdir(join(recordPath, '..'), { recursive: true });
  await writeFile(`${recordPath}.tmp`, JSON.stringify(job));
  await rename(`${recordPath}.tmp`, recordPath);
}

/** A running job for this key (by job name), or a finished one whose work dir holds a clean exit. */
export async function findEarlier(key: string, recordPath: string | undefined): Promise<JobRecord | undefined> {
  const tag = `-${keyTag(key)}`;
  const q = await run('squeue', ['-h', '--me', '-o', '%i|%j|%T|%Z']);
  if (q.code === 0) {
    for (const line of q.stdout.split('\n')) {
      const [jobId, jobName, st, workDir] = line.trim().split('|');
      if (jobId && jobName?.startsWith('flow-') && jobName.endsWith(tag) && st && !TERMINAL.has(st) && workDir) return { jobId, jobName, workDir };
    }
  }
  if (!recordPath) return undefined;
  const rec = await readFile(recordPath, 'utf8').then((t) => JSON.parse(t) as JobRecord, () => undefined);
  if (!rec) return undefined;
  const code = await readFile(join(rec.workDir, JOB_DIR, 'exit'), 'utf8').catch(() => '');
  if (code.trim() === '0') return rec;
  // Died or failed while nobody watched: forget it and start afresh.
  await rm(recordPath, { force: true });
  return undefined;
}

/** Moves an adopted job's files into this execution's work dir, where the engine commits from. */
export async function moveInto(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    if (name === JOB_DIR) continue;
    await rm(join(to, name), { recursive: true, force: true });
    await rename(join(from, name), join(to, name));
  }
  await rm(from, { recursive: true, force: true });
}
