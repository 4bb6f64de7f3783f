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
// Adoption: the job name ends with the step key, and a record
// <cache>/slurm/<key>.json names the job and its work dir. A coordinator that
// died leaves its jobs running; the next run of the same step finds the job
// (squeue by name) and waits for it instead of submitting a duplicate, or,
// when it already finished, takes its result. Either way the adopted work
// dir's files move into this execution's work dir, so the engine commits them
// as if this execution had produced them.

import { execFile, type ExecFileException } from 'node:child_process';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LineTail } from '../../proc/tail.js';
import { CacheLayout } from '../../cache/layout.js';

import type { Executor, ProcessOutcome, ProcessSpec } from '../../steps/process-spec.js';
import type { ExecutorConfig, Resources } from '../../recipe/types.js';
import type { StepMachine } from '../../steps/types.js';

export interface SlurmSettings {
  partition?: string;
  account?: string;
  /** Default wall-time limit (HH:MM:SS or D-HH:MM:SS); a step's resources.time wins. */
  time?: string;
  /** Further sbatch options, e.g. ['--qos=high']. */
  extra?: string[];
}

/** Where the wrapper keeps its files inside the step's work dir. */
export const JOB_DIR = '.flow-job';
const EXIT_POLL_MS = 200;
const TAIL_MS = 200;
const STATE_POLL_MS = 1000;

/** Slurm states after which the job's processes are gone. */
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'SPECIAL_EXIT', 'REVOKED']);
/** Why a job ended without writing its exit status, from its final Slurm state. */
const REASONS: Record<string, string> = {
  TIMEOUT: 'time-limit',
  DEADLINE: 'time-limit',
  OUT_OF_MEMORY: 'out-of-memory',
  NODE_FAIL: 'node-fail',
  BOOT_FAIL: 'node-fail',
  PREEMPTED: 'preempted',
  CANCELLED: 'cancelled',
};

interface JobState {
  state: string;
  reason: string;
  nodes: string;
}

interface JobRecord {
  jobId: string;
  jobName: string;
  workDir: string;
}

function run(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string; missing: boolean }> {
  return new Promise((resolveRun) => {
    execFile(file, args, { env: env ?? process.env, maxBuffer: 16 * 1024 * 1024 }, (err: ExecFileException | null, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolveRun({ code, stdout: String(stdout), stderr: String(stderr), missing: err?.code === 'ENOENT' });
    });
  });
}

/** Single-quotes a word for bash. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A launcher to run once per node of a multi-node job (ProcessSpec.perNode). */
function perNode(spec: ProcessSpec): boolean {
  return Boolean(spec.perNode && (spec.resources?.nodes ?? 1) > 1);
}

/**
 * The job's batch script: runs the step's command in its work dir and, as its last act, writes the
 * exit status. A multi-node launcher (perNode) runs through srun, one copy per node, each told the
 * node count, its node's rank and the first node's name, where they rendezvous.
 */
function jobScript(spec: ProcessSpec, exit: string): string {
  const command = [spec.file, ...spec.args].map(shq).join(' ');
  const run = perNode(spec)
    ? [
        '# One copy per node, rendezvousing at the first node of the allocation.',
        'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        'export MASTER_ADDR NNODES=$SLURM_JOB_NUM_NODES PET_MASTER_ADDR=$MASTER_ADDR PET_NNODES=$SLURM_JOB_NUM_NODES',
        // srun (Slurm 22.05) does not take --cpus-per-task over from the batch job: say it again.
        `srun --nodes=$SLURM_JOB_NUM_NODES --ntasks=$SLURM_JOB_NUM_NODES --ntasks-per-node=1${spec.resources?.cpus ? ` --cpus-per-task=${spec.resources.cpus}` : ''} --kill-on-bad-exit=1 \\`,
        `  bash -c 'export NODE_RANK=$SLURM_NODEID PET_NODE_RANK=$SLURM_NODEID; exec "$@"' flow-node ${command} </dev/null`,
      ]
    : [`${command} </dev/null`];
  return [
    '#!/bin/bash',
    '# Written by flow: runs one step and records its exit status as its last act.',
    `cd ${shq(spec.cwd)} || exit 1`,
    ...run,
    'code=$?',
    `printf '%s\\n' "$code" > ${shq(`${exit}.tmp`)} && mv ${shq(`${exit}.tmp`)} ${shq(exit)}`,
    'exit $code',
    '',
  ].join('\n');
}

/** Job names: flow-<run>-<step>-<key prefix>; the key prefix is what adoption looks for. */
export function jobNameOf(runId: string, stepId: string, key: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._=+-]/g, '_');
  return `flow-${clean(runId)}-${clean(stepId)}-${keyTag(key)}`;
}

function keyTag(key: string): string {
  return `k${key.slice(0, 20)}`;
}

/** Maps a step's resources and the executor settings to sbatch options. */
export function sbatchOptions(settings: SlurmSettings, resources: ProcessSpec['resources']): string[] {
  const o: string[] = [];
  if (settings.partition) o.push(`--partition=${settings.partition}`);
  if (settings.account) o.push(`--account=${settings.account}`);
  const time = resources?.time ?? settings.time;
  if (time) o.push(`--time=${time}`);
  if (resources?.gpus) o.push(`--gres=gpu:${resources.gpus}`);
  if (resources?.cpus) o.push(`--cpus-per-task=${resources.cpus}`);
  if (resources?.memory) o.push(`--mem=${resources.memory}`);
  if (resources?.nodes) o.push(`--nodes=${resources.nodes}`);
  o.push(...(settings.extra ?? []));
  return o;
}

/**
 * One squeue call per second for every job this executor watches, not one per
 * job: a sweep of a hundred steps must not hammer slurmctld.
 */
class StatePoller {
  private readonly watchers = new Map<string, (s: JobState | undefined) => void>();
  private timer?: NodeJS.Timeout;
  private polling = false;

  constructor(private readonly intervalMs: number) {}

  watch(jobId: string, on: (s: JobState | undefined) => void): () => void {
    this.watchers.set(jobId, on);
    if (!this.timer) {
      this.timer = setInterval(() => void this.poll(), this.intervalMs);
      this.timer.unref();
    }
    void this.poll([jobId]);
    return () => {
      this.watchers.delete(jobId);
      if (this.watchers.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    };
  }

  private async poll(ids = [...this.watchers.keys()]): Promise<void> {
    // A slow controller must not pile up squeue calls: skip a tick while one is out.
    if (ids.length === 0 || this.polling) return;
    this.polling = true;
    try {
      const states = await queryJobs(ids);
      if (!states) return; // controller unreachable this time: keep the last state.
      for (const id of ids) this.watchers.get(id)?.(states.get(id));
    } finally {
      this.polling = false;
    }
  }
}

/** Slurm's current view of jobs (finished ones too, while slurmctld keeps them); undefined when squeue fails. */
async function queryJobs(ids: string[]): Promise<Map<string, JobState> | undefined> {
  const r = await run('squeue', ['-h', '-t', 'all', '-j', ids.join(','), '-o', '%i|%T|%r|%N']);
  // squeue exits 1 with "Invalid job id specified" when every id has been purged.
  if (r.code !== 0 && !/Invalid job id/i.test(r.stderr)) return undefined;
  const out = new Map<string, JobState>();
  for (const line of r.stdout.split('\n')) {
    const [id, state, reason, nodes] = line.trim().split('|');
    if (id && state) out.set(id, { state, reason: reason ?? '', nodes: nodes ?? '' });
  }
  return out;
}

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
    const adopted = key ? await this.findEarlier(key, recordPath) : undefined;
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
      if (recordPath) {
        await mkdir(join(recordPath, '..'), { recursive: true });
        await writeFile(`${recordPath}.tmp`, JSON.stringify(job));
        await rename(`${recordPath}.tmp`, recordPath);
      }
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

  /** A running job for this key (by job name), or a finished one whose work dir holds a clean exit. */
  private async findEarlier(key: string, recordPath: string | undefined): Promise<JobRecord | undefined> {
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

/** One line for the step's failure, e.g. "hit its time limit: TIMEOUT (job 12)". */
function describe(s: JobState, jobId: string): string {
  const what: Record<string, string> = {
    'time-limit': 'hit its time limit',
    'out-of-memory': 'ran out of memory',
    'node-fail': 'lost its node',
    preempted: 'was preempted',
    cancelled: 'was cancelled outside flow',
  };
  const reason = REASONS[s.state];
  const slurm = `${s.state}${s.reason && s.reason !== 'None' ? ` (${s.reason})` : ''}, job ${jobId}`;
  return reason ? `${what[reason]}: ${slurm}` : `ended in Slurm state ${slurm}`;
}

/** Executor options from the recipe (`executor: { type: slurm, partition, account, time, extra }`). */
export function slurmSettings(config: ExecutorConfig): SlurmSettings {
  const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  return {
    partition: str(config.partition),
    account: str(config.account),
    time: str(config.time),
    extra: Array.isArray(config.extra) ? config.extra.map(String) : undefined,
  };
}

/** The job's state once Slurm has finished with it (a few seconds at most), if it still knows the job. */
async function finalState(jobId: string): Promise<JobState | undefined> {
  const until = Date.now() + 5000;
  for (;;) {
    const s = (await queryJobs([jobId]))?.get(jobId);
    if (!s || TERMINAL.has(s.state) || Date.now() > until) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Moves an adopted job's files into this execution's work dir, where the engine commits from. */
async function moveInto(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) {
    if (name === JOB_DIR) continue;
    await rm(join(to, name), { recursive: true, force: true });
    await rename(join(from, name), join(to, name));
  }
  await rm(from, { recursive: true, force: true });
}
