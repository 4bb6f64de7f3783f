// Python steps on a real Slurm cluster of two nodes (two slurmd on this machine, started by
// tests/helpers/slurm-cluster.ts): the quickstart's train step as a Slurm job gives the local
// run's key and bytes, and a torchrun launcher with resources.nodes: 2 runs one torchrun per
// node through srun, whose ranks meet at the first node. Real sbatch, srun, torch; no mocks.

import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchArgs } from '../src/python/launch.js';
import { SlurmExecutor } from '../src/scheduler/executors/slurm.js';
import { ROOT, runIdOf, sandbox } from './helpers/cli.js';
import { startSlurmCluster, type SlurmCluster } from './helpers/slurm-cluster.js';
import { FIXTURES, testPython } from './helpers/python.js';

let cluster: SlurmCluster | undefined;
let skip = '';
let python = '';

beforeAll(async () => {
  const c = await startSlurmCluster({ nodes: 2 });
  if ('skip' in c) return void (skip = c.skip);
  cluster = c;
  python = await testPython();
}, 600_000);
afterAll(async () => {
  await cluster?.stop();
});

/** sha256 of every file under dir, by relative path. */
function digests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

describe('python steps on a Slurm cluster', () => {
  it("the quickstart's train step as a Slurm job on CPU: the local run's key and output bytes", async (t) => {
    if (skip) return t.skip(skip);
    const s = sandbox();
    const recipe = join(ROOT, 'recipes', 'quickstart.yml');
    // data, model and a 4-step train: the point is where train runs, not how well.
    const args = ['run', recipe, '--until', 'train', '--set', 'steps=4', '--ui', 'json'];
    // One torch thread on both sides: the thread count changes float summation order, so the bytes,
    // and flow gives a local step its share of the cores while a Slurm job without cpus: gets torch's default.
    const env = { FLOW_PYTHON: python, OMP_NUM_THREADS: '1' };
    const local = await s.flow(args, { env });
    expect(local.code, local.stderr).toBe(0);
    const done = (events: typeof local.events) => events.find((e) => e.type === 'step-done' && e.step === 'train') as { key: string; outputs: Record<string, string> };
    const localTrain = done(local.events);
    const entry = join(localTrain.outputs.adapter!, '..');
    const localFiles = digests(entry);

    // The same step again, in the same cache (so that the base model's path, which the adapter
    // config names, is the same), as a Slurm job.
    const slurm = await s.flow([...args, '--force', 'train', '--executor', 'slurm'], { env });
    expect(slurm.code, slurm.stderr).toBe(0);
    expect(s.executions(runIdOf(slurm.events))).toEqual({ data: 'cached', model: 'cached', train: 'done' });
    const states = slurm.events.filter((e) => e.type === 'step-state' && e.step === 'train').map((e) => (e as { state: string }).state);
    expect(states).toContain('RUNNING');
    expect(states.at(-1)).toBe('COMPLETED');
    const slurmTrain = done(slurm.events);
    expect(slurmTrain.key).toBe(localTrain.key);
    const slurmFiles = digests(entry);

    // Every output file byte for byte, but for two that record the occasion rather than the result:
    // flow's own entry record (run id, times) and metrics.json's train_seconds (wall time).
    const strip = (f: Record<string, string>) => Object.fromEntries(Object.entries(f).filter(([k]) => k !== '.flow-entry.json' && k !== 'metrics.json'));
    expect(Object.keys(localFiles)).toContain('adapter/adapter_model.safetensors');
    expect(strip(slurmFiles)).toEqual(strip(localFiles));
    const metrics = (events: typeof local.events) => {
      const m = (events.find((e) => e.type === 'step-done' && e.step === 'train') as { metrics: Record<string, unknown> }).metrics;
      // Wall-time figures record the occasion, not the result.
      const { train_seconds: _, tokens_per_s: __, ...rest } = m;
      return rest;
    };
    expect(metrics(slurm.events)).toEqual(metrics(local.events));
  }, 900_000);

  it('resources.nodes: 2 under torchrun: one torchrun per node through srun, the ranks meet at the first node', async (t) => {
    if (skip) return t.skip(skip);
    const cwd = mkdtempSync(join(tmpdir(), 'flow-slurm-nodes-'));
    const lines: string[] = [];
    const launcher = { type: 'torchrun' as const, nproc_per_node: 1, master_port: 20000 + Math.floor(Math.random() * 20000) };
    const o = await new SlurmExecutor({ partition: cluster!.partition }).exec({
      file: python,
      // What the python step type launches for such a step (src/python/launch.ts).
      args: launchArgs(join(FIXTURES, 'rendezvous.py'), join(cwd, 'unused-params.json'), launcher, [], 2),
      cwd,
      env: { ...(process.env as Record<string, string>), FLOW_STEP_KEY: `nodes${Date.now().toString(16)}0123456789abcdef` },
      perNode: true,
      resources: { gpus: 0, nodes: 2 },
      name: { runId: 'r1', stepId: 'train' },
      onLine: (l) => lines.push(l),
      signal: new AbortController().signal,
    });
    expect(o, lines.slice(-30).join('\n')).toMatchObject({ exitCode: 0, cancelled: false });
    const ranks = [0, 1].map((r) => JSON.parse(readFileSync(join(cwd, `rank-${r}.json`), 'utf8')) as Record<string, unknown>);
    const info = cluster!.cli('scontrol', ['show', 'job', '-o', String(ranks[0]!.job)]);
    expect(info).toMatch(/ NumNodes=2 /);
    const first = cluster!.cli('scontrol', ['show', 'hostnames', /\bNodeList=(\S+)/.exec(info)![1]!]).split('\n')[0];
    // Two ranks of one world, one on each node, each node knowing its place, all rendezvoused at
    // the first node of the job (all_reduce returned the sum of both ranks).
    for (const r of ranks) expect(r).toMatchObject({ world_size: 2, rank_sum: 3, master_addr: first, job: ranks[0]!.job });
    expect(ranks.map((r) => r.node).sort()).toEqual([...cluster!.nodes].sort());
    expect(ranks.map((r) => [r.node_rank, r.group_rank])).toEqual([['0', '0'], ['1', '1']]);
    expect(ranks[0]!.node).toBe(first);
  }, 300_000);
});

