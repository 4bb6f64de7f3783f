// 100 trivial steps through the Slurm executor vs. run locally, on the same
// machine in the same run. Prints the per-step overhead (exec() called ->
// outcome back) and, for Slurm, the time from the job's end (the wrapper's
// exit-status file, stamped by the filesystem) to flow noticing it.
//
//   node dist/bench/slurm.js [steps=100] [concurrency=10]
//
// Uses the cluster SLURM_CONF points at when `sinfo` answers; otherwise starts
// the single-node test cluster (root and the slurm-wlm/munge packages needed).

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SlurmExecutor, JOB_DIR } from '../src/scheduler/executors/slurm.js';
import type { ProcessSpec } from '../src/steps/process-spec.js';
import { createLocalExecutor } from '../src/scheduler/executors/local.js';
import { startSlurmCluster } from '../tests/helpers/slurm-cluster.js';

const steps = Number(process.argv[2] ?? 100);
const concurrency = Number(process.argv[3] ?? 10);

function clusterUp(): boolean {
  try {
    return /idle|mix|alloc/.test(execFileSync('sinfo', ['-h', '-o', '%T'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return false;
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
}

async function pool<T>(n: number, width: number, f: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      for (let i = next++; i < n; i = next++) out[i] = await f(i);
    }),
  );
  return out;
}

function specFor(cwd: string, i: number): ProcessSpec {
  return {
    file: 'bash',
    args: ['-c', 'echo step'],
    cwd,
    env: { ...(process.env as Record<string, string>), FLOW_STEP_KEY: `bench${process.pid}x${i}` },
    name: { runId: 'bench', stepId: `s${i}` },
    onLine: () => undefined,
    signal: new AbortController().signal,
  };
}

async function main(): Promise<void> {
  let stop: (() => Promise<void>) | undefined;
  if (!clusterUp()) {
    const c = await startSlurmCluster();
    if ('skip' in c) {
      console.log(`bench/slurm: skipped: ${c.skip}`);
      return;
    }
    stop = c.stop;
  }
  const root = mkdtempSync(join(tmpdir(), 'flow-bench-slurm-'));
  try {
    const ex = new SlurmExecutor();
    const t0 = Date.now();
    const slurm = await pool(steps, concurrency, async (i) => {
      const cwd = join(root, `slurm-${i}`);
      const started = Date.now();
      mkdirSync(cwd);
      const o = await ex.exec(specFor(cwd, i));
      const noticed = Date.now();
      if (o.exitCode !== 0) throw new Error(`step ${i} failed: ${JSON.stringify(o)}`);
      const ended = statSync(join(cwd, JOB_DIR, 'exit')).mtimeMs;
      return { total: noticed - started, lag: noticed - ended };
    });
    const slurmWall = Date.now() - t0;

    const localEx = createLocalExecutor();
    const t1 = Date.now();
    const local = await pool(steps, concurrency, async (i) => {
      const cwd = join(root, `local-${i}`);
      mkdirSync(cwd);
      const started = Date.now();
      const o = await localEx.exec(specFor(cwd, i));
      if (o.exitCode !== 0) throw new Error(`local step ${i} failed`);
      return Date.now() - started;
    });
    const localWall = Date.now() - t1;

    const ms = (x: number) => `${Math.round(x)} ms`;
    console.log(`bench/slurm: ${steps} trivial steps, ${concurrency} in flight, same machine, same run`);
    console.log(`  local  per step: median ${ms(median(local))}, p90 ${ms(pct(local, 0.9))}; wall ${ms(localWall)}`);
    console.log(`  slurm  per step: median ${ms(median(slurm.map((s) => s.total)))}, p90 ${ms(pct(slurm.map((s) => s.total), 0.9))}; wall ${ms(slurmWall)}`);
    console.log(`  slurm  overhead over local (median): ${ms(median(slurm.map((s) => s.total)) - median(local))}`);
    console.log(`  job end -> flow noticed: median ${ms(median(slurm.map((s) => s.lag)))}, p90 ${ms(pct(slurm.map((s) => s.lag), 0.9))}, max ${ms(Math.max(...slurm.map((s) => s.lag)))} (target: under 1 s at the median)`);
  } finally {
    rmSync(root, { recursive: true, force: true });
    await stop?.();
  }
}

await main();
