// Slurm's view of jobs: the client commands run as child processes, one squeue call per tick
// for every watched job, the states after which a job's processes are gone, and why a job
// ended without writing its exit status.

import { execFile, type ExecFileException } from 'node:child_process';

/** Slurm states after which the job's processes are gone. */
export const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE', 'SPECIAL_EXIT', 'REVOKED']);
/** Why a job ended without writing its exit status, from its final Slurm state. */
export const REASONS: Record<string, string> = {
  TIMEOUT: 'time-limit',
  DEADLINE: 'time-limit',
  OUT_OF_MEMORY: 'out-of-memory',
  NODE_FAIL: 'node-fail',
  BOOT_FAIL: 'node-fail',
  PREEMPTED: 'preempted',
  CANCELLED: 'cancelled',
};

export interface JobState {
  state: string;
  reason: string;
  nodes: string;
}

export function run(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string; missing: boolean }> {
  return new Promise((resolveRun) => {
    execFile(file, args, { env: env ?? process.env, maxBuffer: 16 * 1024 * 1024 }, (err: ExecFileException | null, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolveRun({ code, stdout: String(stdout), stderr: String(stderr), missing: err?.code === 'ENOENT' });
    });
  });
}

/**
 * One squeue call per second for every job this executor watches, not one per
 * job: a sweep of a hundred steps must not hammer slurmctld.
 */
export class StatePoller {
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

/** The job's state once Slurm has finished with it (a few seconds at most), if it still knows the job. */
export async function finalState(jobId: string): Promise<JobState | undefined> {
  const until = Date.now() + 5000;
  for (;;) {
    const s = (await queryJobs([jobId]))?.get(jobId);
    if (!s || TERMINAL.has(s.state) || Date.now() > until) return s;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** One line for the step's failure, e.g. "hit its time limit: TIMEOUT (job 12)". */
export function describe(s: JobState, jobId: string): string {
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
