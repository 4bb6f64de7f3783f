// The Slurm executor against a real single-node cluster (slurmctld, slurmd,
// munged started by tests/helpers/slurm-cluster.ts): real sbatch, squeue,
// scontrol and scancel; nothing is mocked.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlurmExecutor } from '../src/scheduler/executors/slurm.js';
import type { ProcessSpec } from '../src/steps/process-spec.js';
import { startSlurmCluster, type SlurmCluster } from './helpers/slurm-cluster.js';

let cluster: SlurmCluster | undefined;
let skip = '';

beforeAll(async () => {
  const c = await startSlurmCluster();
  if ('skip' in c) skip = c.skip;
  else cluster = c;
});
afterAll(async () => {
  await cluster?.stop();
});

interface Seen {
  lines: string[];
  events: string[];
  states: Array<{ jobId?: string; state: string; detail?: string }>;
}

let n = 0;
function spec(command: string, over: Partial<ProcessSpec> & { key?: string; cache?: string } = {}): { spec: ProcessSpec; seen: Seen; cwd: string } {
  const cwd = mkdtempSync(join(tmpdir(), 'flow-slurm-step-'));
  const seen: Seen = { lines: [], events: [], states: [] };
  const key = over.key ?? `${Date.now().toString(16)}${(n++).toString(16).padStart(4, '0')}abcdef0123456789`;
  const s: ProcessSpec = {
    file: 'bash',
    args: ['-eo', 'pipefail', '-c', command],
    cwd,
    env: { ...(process.env as Record<string, string>), FLOW_STEP_KEY: key, ...(over.cache ? { FLOW_CACHE_DIR: over.cache } : {}) },
    name: { runId: 'r1', stepId: 'step' },
    onLine: (l) => seen.lines.push(l),
    onEvent: (l) => seen.events.push(l),
    onState: (st) => seen.states.push(st),
    signal: new AbortController().signal,
    ...over,
  };
  return { spec: s, seen, cwd };
}

function jobInfo(jobId: string): Record<string, string> {
  const out = cluster!.cli('scontrol', ['show', 'job', '-o', jobId]);
  return Object.fromEntries(out.trim().split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

function queued(): string {
  return cluster!.cli('squeue', ['-h', '-o', '%i %j %T']).trim();
}

async function until(ok: () => boolean, ms = 30000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('slurm executor on a real cluster', () => {
  it('runs the command as a job in its work dir, streams its log and events, and reports Slurm states', async (t) => {
    if (skip) return t.skip(skip);
    const { spec: s, seen, cwd } = spec('echo "$SLURM_JOB_ID" > job-id; pwd; echo err >&2; echo \'{"type":"progress"}\' >> events.jsonl; echo done > out.txt', {
      resources: { gpus: 2, cpus: 1, memory: '100M', time: '00:05:00' },
    });
    s.eventsFile = join(cwd, 'events.jsonl');
    const o = await new SlurmExecutor({ partition: cluster!.partition }).exec(s);
    expect(o).toMatchObject({ exitCode: 0, cancelled: false });
    expect(readFileSync(join(cwd, 'out.txt'), 'utf8')).toBe('done\n');
    const jobId = readFileSync(join(cwd, 'job-id'), 'utf8').trim();
    expect(seen.lines).toEqual(expect.arrayContaining([cwd, 'err']));
    expect(seen.events).toEqual(['{"type":"progress"}']);
    expect(seen.states.every((st) => st.jobId === jobId)).toBe(true);
    expect(seen.states.at(-1)!.state).toBe('COMPLETED');
    // The step's resources reached Slurm as sbatch options.
    const info = jobInfo(jobId);
    expect(info.JobName).toMatch(/^flow-r1-step-k/);
    expect(info.TimeLimit).toBe('00:05:00');
    expect(info.TresPerNode).toBe('gres:gpu:2');
    expect(info.MinMemoryNode).toBe('100M');
    expect(info.WorkDir).toBe(cwd);
  });

  it('passes a non-zero exit status through', async (t) => {
    if (skip) return t.skip(skip);
    const { spec: s } = spec('exit 3');
    const o = await new SlurmExecutor().exec(s);
    expect(o).toMatchObject({ exitCode: 3, cancelled: false });
    expect(o.reason).toBeUndefined();
  });

  it('runs four jobs at once (from the start and end times Slurm records)', async (t) => {
    if (skip) return t.skip(skip);
    const ex = new SlurmExecutor();
    const runs = Array.from({ length: 4 }, () => spec('echo "$SLURM_JOB_ID" > job-id; sleep 5', { resources: { gpus: 1 } }));
    const outcomes = await Promise.all(runs.map((r) => ex.exec(r.spec)));
    expect(outcomes.map((o) => o.exitCode)).toEqual([0, 0, 0, 0]);
    const ids = runs.map((r) => readFileSync(join(r.cwd, 'job-id'), 'utf8').trim());
    // flow sees the exit file before slurmctld has closed the job: wait for Slurm's own end times.
    await until(() => ids.every((id) => jobInfo(id).JobState === 'COMPLETED'));
    const infos = ids.map(jobInfo);
    const starts = infos.map((i) => Date.parse(i.StartTime!));
    const ends = infos.map((i) => Date.parse(i.EndTime!));
    // Every job started before any of them ended: all four ran concurrently.
    expect(Math.max(...starts)).toBeLessThan(Math.min(...ends));
  });

  it('cancelling scancels the job: nothing is left in squeue', async (t) => {
    if (skip) return t.skip(skip);
    const ac = new AbortController();
    const { spec: s, seen } = spec('sleep 300', { signal: ac.signal });
    const p = new SlurmExecutor().exec(s);
    await until(() => seen.states.some((st) => st.state === 'RUNNING'));
    expect(queued()).toMatch(/RUNNING/);
    ac.abort();
    const o = await p;
    expect(o.cancelled).toBe(true);
    expect(queued()).toBe('');
  });

  it('cancelAll scancels every job it started', async (t) => {
    if (skip) return t.skip(skip);
    const ex = new SlurmExecutor();
    const runs = [spec('sleep 300'), spec('sleep 300')];
    const ps = runs.map((r) => ex.exec(r.spec));
    await until(() => runs.every((r) => r.seen.states.some((st) => st.state === 'RUNNING')));
    await ex.cancelAll();
    const outcomes = await Promise.all(ps);
    expect(outcomes.map((o) => o.reason)).toEqual(['cancelled', 'cancelled']);
    expect(queued()).toBe('');
  });

  it('a second coordinator adopts the running job of the same key instead of submitting another', async (t) => {
    if (skip) return t.skip(skip);
    const cache = mkdtempSync(join(tmpdir(), 'flow-slurm-cache-'));
    const key = 'adopt0123456789abcdef0123456789';
    const first = spec('echo "$SLURM_JOB_ID" >> ids; sleep 4; echo result > out.txt', { key, cache });
    const p1 = new SlurmExecutor().exec(first.spec);
    await until(() => first.seen.states.some((st) => st.state === 'RUNNING'));
    const second = spec('echo "$SLURM_JOB_ID" >> ids; echo duplicate > out.txt', { key, cache });
    const o2 = await new SlurmExecutor().exec(second.spec);
    expect(o2.exitCode).toBe(0);
    // The adopted job's files moved into the second execution's work dir: one job id, its result.
    expect(readFileSync(join(second.cwd, 'out.txt'), 'utf8')).toBe('result\n');
    expect(readFileSync(join(second.cwd, 'ids'), 'utf8').trim().split('\n')).toHaveLength(1);
    expect(second.seen.states[0]).toMatchObject({ state: 'ADOPTED', jobId: first.seen.states[0]!.jobId });
    await p1;
    expect(existsSync(join(cache, 'slurm', `${key}.json`))).toBe(false);
  });

  it('takes the result of a job that finished while no coordinator watched', async (t) => {
    if (skip) return t.skip(skip);
    const cache = mkdtempSync(join(tmpdir(), 'flow-slurm-cache-'));
    const key = 'finished0123456789abcdef012345';
    // What a killed coordinator leaves behind: the record and a job that has since completed.
    const first = spec('echo "$SLURM_JOB_ID" > id; echo result > out.txt', { key });
    const jobId = cluster!.cli('sbatch', ['--parsable', `--chdir=${first.cwd}`, '--output=/dev/null', '--wrap', `bash -c 'mkdir -p .flow-job; echo result > out.txt; echo 0 > .flow-job/exit'`]).trim();
    await until(() => existsSync(join(first.cwd, '.flow-job', 'exit')));
    mkdirSync(join(cache, 'slurm'), { recursive: true });
    writeFileSync(join(cache, 'slurm', `${key}.json`), JSON.stringify({ jobId, jobName: 'flow-old-step-k', workDir: first.cwd }));
    const second = spec('echo duplicate > out.txt', { key, cache });
    const o = await new SlurmExecutor().exec(second.spec);
    expect(o.exitCode).toBe(0);
    expect(readFileSync(join(second.cwd, 'out.txt'), 'utf8')).toBe('result\n');
    expect(second.seen.states[0]).toMatchObject({ state: 'ADOPTED', jobId });
  });

  it('an sbatch rejection fails with Slurm\'s own message', async (t) => {
    if (skip) return t.skip(skip);
    const { spec: s } = spec('true');
    const o = await new SlurmExecutor({ partition: 'nosuchpartition' }).exec(s);
    expect(o.reason).toBe('submit-failed');
    expect(o.detail).toMatch(/invalid partition/i);
  });

  it('check() says in one line that sbatch is missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      const errors = await new SlurmExecutor().check();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(/sbatch not found/);
    } finally {
      process.env.PATH = path;
    }
  });
});
