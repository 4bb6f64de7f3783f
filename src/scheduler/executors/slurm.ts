// The Slurm executor: each step's process becomes one sbatch job, submitted
// with the real Slurm client commands (sbatch, squeue, scontrol, scancel).
//
// The job runs a small wrapper in the step's work dir (on the shared
// filesystem). The wrapper's last act is to write the command's exit status to
// <workdir>/.flow-job/exit; the coordinator notices that file within a second
// (fs.watch, plus polling for filesystems where another node's writes raise
// no event). Slurm's own view of the job (squeue/scontrol) is only needed for
// the reporter (PENDING with reason, RUNNING on node) and for jobs that die
// without writing the file: time limit, OOM, node failure, preemption.
// Nothing here needs accounting (sacct): scontrol/squeue keep a finished job
// for MinJobAge, which is enough to tell why it ended.
//
// The job's script and options are in slurm-script.ts, Slurm's view of jobs in
// slurm-queue.ts, adoption of an earlier coordinator's job in slurm-adopt.ts.

import { existsSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CacheLayout } from '../../cache/layout.js';
import { LineTail } from '../../proc/tail.js';
import type { Resources } from '../../recipe/types.js';
import type { Executor, ProcessOutcome, ProcessSpec } from '../../steps/process-spec.js';
import type { StepMachine } from '../../steps/types.js';
import { findEarlier, moveInto, writeJobRecord, type JobRecord } from './slurm-adopt.js';
import { describe, finalState, REASONS, run, StatePoller, TERMINAL, type JobState } from './slurm-queue.js';
import { JOB_DIR, jobNameOf, jobScript, perNode, sbatchOptions, type SlurmSettings } from './slurm-script.js';

export { JOB_DIR, jobNameOf, sbatchOptions, slurmSettings, type SlurmSettings } from './slurm-script.js';

const EXIT_POLL_MS = 200;
const TAIL_MS = 200;
const STATE_POLL_MS = 1000;

/**
 * Where a Slurm job runs, as the plan sees it from a login node (which has no GPU): a node of the
 * partition with the GPUs the step asks for (resources.gpus, sent as --gres=gpu:N). The request is
 * trusted rather than checked against the partition's GRES (sinfo): sbatch itself refuses a
 * request the cluster cannot meet, at submit time, with its own reason (flow reports it as the
 * step's failure), while reading sinfo at plan time would tie planning to the cluster being
 * reachable and would still not know which node the job gets. Compute capabilities are not known
 * before the job runs; the step checks them again there.
 */
export function slurmMachine(resources: Pick<Resources, 'gpus'>): StepMachine {
  return {
    executor: 'slurm',
    cuda: resources.gpus > 0,
    capabilities: () => [],
    noGpu: 'its Slurm job asks for no GPU (set resources.gpus)',
    allowCpu: false,
  };
}

export class SlurmExecutor implements Executor {
  readonly name = 'slurm';
  private readonly live = new Set<string>();
  private readonly poller = new StatePoller(STATE_POLL_MS);

  /** cacheDir: where adoption records live (<cache>/slurm/<key>.json); the shared filesystem. */
  constructor(
    private readonly settings: SlurmSettings = {},
    private readonly cacheDir?: string,
  ) {}

  async check(): Promise<string[]> {
    const r = await run('sbatch', ['--version']);
    if (r.missing) return ['sbatch not found on PATH: the slurm executor needs the Slurm client commands (sbatch, squeue, scancel)'];
    if (r.code !== 0) return [`sbatch --version failed: ${(r.stderr || r.stdout).trim().split('\n')[0]}`];
    return [];
  }

  async cancelAll(): Promise<void> {
    if (this.live.size) await run('scancel', [...this.live]);
  }

  async exec(spec: ProcessSpec): Promise<ProcessOutcome> {
    const key = spec.env.FLOW_STEP_KEY ?? '';
    const cacheDir = this.cacheDir ?? spec.env.FLOW_CACHE_DIR;
    const recordPath = cacheDir && key ? new CacheLayout(cacheDir).slurmRecord(key) : undefined;
    const state = (s: string, jobId?: string, detail?: string) => spec.onState?.({ executor: 'slurm', jobId, state: s, detail });

    // A job of an earlier coordinator for this very step: wait for it, or take its result.
    const adopted = key ? await findEarlier(key, recordPath) : undefined;
    let job: JobRecord;
    if (adopted) {
      job = adopted;
      spec.onLine(`flow: adopting Slurm job ${job.jobId} (${job.jobName}) started by an earlier run in ${job.workDir}`, 'stderr');
      state('ADOPTED', job.jobId, 'started by an earlier run');
    } else {
      const submitted = await this.submit(spec, key);
      if ('error' in submitted) {
        spec.onLine(submitted.error, 'stderr');
        state('SUBMIT-FAILED', undefined, submitted.error);
        return { exitCode: null, signal: null, cancelled: false, reason: 'submit-failed', detail: `was rejected by sbatch: ${submitted.error}` };
      }
      job = submitted;
      if (recordPath) await writeJobRecord(recordPath, job);
    }
    this.live.add(job.jobId);
    try {
      const outcome = await this.follow(job, spec, state);
      if (adopted && outcome.exitCode === 0 && adopted.workDir !== spec.cwd) await moveInto(adopted.workDir, spec.cwd);
      return outcome;
    } finally {
      this.live.delete(job.jobId);
      if (recordPath) await rm(recordPath, { force: true });
    }
  }

  private async submit(spec: ProcessSpec, key: string): Promise<JobRecord | { error: string }> {
    const dir = join(spec.cwd, JOB_DIR);
    await mkdir(dir, { recursive: true });
    const script = join(dir, 'job.sh');
    await writeFile(script, jobScript(spec, join(dir, 'exit')), { mode: 0o755 });
    const jobName = jobNameOf(spec.name.runId, spec.name.stepId, key || spec.name.stepId);
    const args = [
      '--parsable',
      `--job-name=${jobName}`,
      `--chdir=${spec.cwd}`,
      `--output=${join(dir, 'stdout')}`,
      `--error=${join(dir, 'stderr')}`,
      // A job Slurm would requeue after a node failure or a preemption would start over unseen;
      // flow reports the failure instead and the next run resubmits (training resumes from its
      // checkpoint). Before the recipe's options, so that extra: ['--requeue'] wins.
      '--no-requeue',
      // One launcher per node: the job's tasks are its nodes, each with all of its node's CPUs asked for.
      ...(perNode(spec) ? ['--ntasks-per-node=1'] : []),
      ...sbatchOptions(this.settings, spec.resources),
      script,
    ];
    // The job inherits this environment (sbatch's default --export=ALL). Slurm hands out GPUs itself.
    const env: NodeJS.ProcessEnv = { ...spec.env };
    delete env.CUDA_VISIBLE_DEVICES;
    const r = await run('sbatch', args, env);
    if (r.missing) return { error: 'sbatch not found on PATH' };
    const jobId = r.stdout.trim().split(';')[0] ?? '';
    if (r.code !== 0 || !/^\d+$/.test(jobId)) {
      const msg = (r.stderr || r.stdout).trim().split('\n').filter(Boolean).pop() ?? `sbatch exited with code ${r.code}`;
      return { error: msg };
    }
    return { jobId, jobName, workDir: spec.cwd };
  }

  /** Streams the job's log and events, reports its Slurm state, and resolves when it has ended. */
  private follow(job: JobRecord, spec: ProcessSpec, state: (s: string, jobId?: string, detail?: string) => void): Promise<ProcessOutcome> {
    const dir = join(job.workDir, JOB_DIR);
    const exitPath = join(dir, 'exit');
    const tails = [
      new LineTail(join(dir, 'stdout'), (l) => spec.onLine(l, 'stdout'), TAIL_MS),
      new LineTail(join(dir, 'stderr'), (l) => spec.onLine(l, 'stderr'), TAIL_MS),
    ];
    if (spec.eventsFile && spec.onEvent) {
      // An adopted job appends to the events file of the work dir it started in.
      const events = job.workDir === spec.cwd ? spec.eventsFile : spec.eventsFile.replace(spec.cwd, job.workDir);
      tails.push(new LineTail(events, (l) => spec.onEvent!(l), TAIL_MS));
    }
    for (const t of tails) t.start();

    return new Promise<ProcessOutcome>((resolveOutcome) => {
      let finished = false;
      let cancelled = false;
      let last = '';
      let goneSince = 0;
      let watcher: FSWatcher | undefined;
      const timers: NodeJS.Timeout[] = [];

      const finish = async (o: ProcessOutcome) => {
        if (finished) return;
        finished = true;
        for (const t of timers) clearInterval(t);
        watcher?.close();
        unwatch();
        spec.signal.removeEventListener('abort', onAbort);
        for (const t of tails) await t.stop();
        resolveOutcome(o);
      };

      const onExitFile = async () => {
        if (finished) return;
        const text = await readFile(exitPath, 'utf8').catch(() => '');
        if (!/^\d+\s*$/.test(text)) return; // not there (yet)
        const code = Number(text.trim());
        if (code === 0 || cancelled) {
          state(cancelled ? 'CANCELLED' : 'COMPLETED', job.jobId);
          return finish({ exitCode: code, signal: null, cancelled });
        }
        // A non-zero exit may be Slurm's doing (the wrapper outlived a killed command): ask why.
        const s = await finalState(job.jobId);
        const reason = s ? REASONS[s.state] : undefined;
        state(s?.state ?? 'FAILED', job.jobId);
        return finish({ exitCode: code, signal: null, cancelled: false, reason, detail: reason ? describe(s!, job.jobId) : undefined });
      };

      const onSlurm = (s: JobState | undefined) => {
        if (finished) return;
        const shown = s ? `${s.state}|${s.reason}|${s.nodes}` : 'GONE';
        if (shown !== last) {
          last = shown;
          if (s?.state === 'PENDING') state('PENDING', job.jobId, s.reason !== 'None' ? s.reason : undefined);
          else if (s?.state === 'RUNNING') state('RUNNING', job.jobId, s.nodes ? `on ${s.nodes}` : undefined);
          else if (s && !TERMINAL.has(s.state)) state(s.state, job.jobId, s.reason !== 'None' ? s.reason : undefined);
        }
        if (s && !TERMINAL.has(s.state)) return;
        if (cancelled) {
          state('CANCELLED', job.jobId);
          return void finish({ exitCode: null, signal: null, cancelled: true, reason: 'cancelled' });
        }
        // Ended (or purged). Give the exit file a moment to show up over a shared filesystem.
        goneSince ||= Date.now();
        if (Date.now() - goneSince < 3000) return void onExitFile();
        if (existsSync(exitPath)) return void onExitFile();
        const reason = s ? (REASONS[s.state] ?? 'failed') : 'lost';
        const detail = s ? describe(s, job.jobId) : `vanished from Slurm without an exit status (job ${job.jobId})`;
        state(s?.state ?? 'LOST', job.jobId, detail);
        spec.onLine(`flow: Slurm job ${job.jobId} ended without an exit status: ${detail}`, 'stderr');
        void finish({ exitCode: null, signal: null, cancelled: false, reason, detail });
      };

      const onAbort = () => {
        if (cancelled) return;
        cancelled = true;
        // Keep following until Slurm says the job is gone, so that nothing is left in squeue.
        void run('scancel', [job.jobId]);
      };

      const unwatch = this.poller.watch(job.jobId, onSlurm);
      try {
        watcher = watch(dir, (_ev, f) => {
          if (f === 'exit') void onExitFile();
        });
        watcher.on('error', () => undefined);
      } catch {
        // No inotify here: the polling below still notices.
      }
      timers.push(setInterval(() => void onExitFile(), EXIT_POLL_MS));
      if (spec.signal.aborted) onAbort();
      else spec.signal.addEventListener('abort', onAbort, { once: true });
      void onExitFile();
    });
  }
}
