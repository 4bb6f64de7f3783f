// `flow run` with steps on a real single-node Slurm cluster (started by
// tests/helpers/slurm-cluster.ts): the real CLI, real sbatch/squeue/scancel,
// real SQLite records. Nothing is mocked.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chalk } from 'chalk';
import type { EngineEvent } from '../src/events.js';
import { RunState } from '../src/reporters/tui/state.js';
import { stepRowText } from '../src/reporters/tui/step-row.js';
import { runIdOf, sandbox, type Sandbox } from './helpers/cli.js';
import { startSlurmCluster, URGENT, type SlurmCluster } from './helpers/slurm-cluster.js';

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

type StateEvent = Extract<EngineEvent, { type: 'step-state' }>;

function states(events: EngineEvent[], step?: string): StateEvent[] {
  return events.filter((e): e is StateEvent => e.type === 'step-state' && (!step || e.step === step));
}

function jobIds(events: EngineEvent[], step?: string): string[] {
  return [...new Set(states(events, step).flatMap((e) => (e.jobId ? [e.jobId] : [])))];
}

function jobInfo(jobId: string): Record<string, string> {
  const out = cluster!.cli('scontrol', ['show', 'job', '-o', jobId]);
  return Object.fromEntries(out.trim().split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
}

function queue(): string {
  return cluster!.cli('squeue', ['-h', '-o', '%i %j %T']).trim();
}

/** Starts `flow run` with the NDJSON reporter and resolves when an event matches. */
function startRun(s: Sandbox, args: string[]) {
  const child = s.spawn(['run', ...args, '--ui', 'json']);
  const events: EngineEvent[] = [];
  const waiters: Array<{ ok: (e: EngineEvent) => boolean; resolve: (e: EngineEvent) => void }> = [];
  createInterface({ input: child.stdout! }).on('line', (l) => {
    const e = JSON.parse(l) as EngineEvent;
    events.push(e);
    for (const w of [...waiters]) if (w.ok(e)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(e));
  });
  const waitFor = (ok: (e: EngineEvent) => boolean) =>
    new Promise<EngineEvent>((resolve, reject) => {
      const seen = events.find(ok);
      if (seen) return resolve(seen);
      waiters.push({ ok, resolve });
      void child.then(() => reject(new Error(`flow exited before the awaited event; events: ${events.map((e) => e.type).join(' ')}`)));
    });
  return { child, events, waitFor };
}

const THREE_STEPS = `
name: three
executor: slurm
steps:
  prepare:
    executor: local
    run: echo local-$$ > prep.txt
    outputs: { out: prep.txt }
  train:
    run: sleep 2; cat \${steps.prepare.outputs.out} > model.txt; echo "job $SLURM_JOB_ID on $SLURMD_NODENAME" | tee -a model.txt
    resources: { gpus: 1, cpus: 1, memory: 64M, time: '00:05:00' }
    outputs: { model: model.txt }
  eval:
    run: sleep 2; wc -l < \${steps.train.outputs.model} > score.txt
    outputs: { score: score.txt }
`;

describe('flow run on a Slurm cluster', () => {
  it('runs two of three steps as Slurm jobs, and a second run is fully cached', async (t) => {
    if (skip) return t.skip(skip);
    const s = sandbox();
    s.write('r.yml', THREE_STEPS);
    const first = await s.flow(['run', 'r.yml', '--ui', 'json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(s.executions(runIdOf(first.events))).toEqual({ prepare: 'done', train: 'done', eval: 'done' });
    // train's GPU is its job's (--gres=gpu:1), not this machine's: no "no GPU found … runs on the CPU".
    expect(first.events.filter((e) => e.type === 'warning')).toEqual([]);
    // prepare ran here; train and eval each ran as one Slurm job, seen going through RUNNING to COMPLETED.
    expect(states(first.events, 'prepare')).toEqual([]);
    for (const step of ['train', 'eval']) {
      expect(jobIds(first.events, step)).toHaveLength(1);
      expect(states(first.events, step).map((e) => e.state)).toContain('COMPLETED');
    }
    const trainJob = jobIds(first.events, 'train')[0]!;
    expect(jobInfo(trainJob)).toMatchObject({ TresPerNode: 'gres:gpu:1', TimeLimit: '00:05:00', MinMemoryNode: '64M', JobState: 'COMPLETED' });
    expect(jobInfo(trainJob).JobName).toMatch(/-train-k[0-9a-f]+$/);
    // The job's log reached flow's log (step-log events), and its output was committed.
    expect(first.events.some((e) => e.type === 'step-log' && e.step === 'train' && e.line === `job ${trainJob} on ${jobInfo(trainJob).NodeList}`)).toBe(true);
    const evalDone = first.events.find((e) => e.type === 'step-done' && e.step === 'eval');
    expect(evalDone && evalDone.type === 'step-done' && readFileSync(evalDone.outputs.score!, 'utf8').trim()).toBe('2');

    // The TUI's row for train, drawn from the events up to its RUNNING state, shows the job and its node.
    const tui = new RunState();
    for (const e of first.events) {
      tui.apply(e);
      if (e.type === 'step-state' && e.step === 'train' && e.state === 'RUNNING') break;
    }
    const row = stepRowText(new Chalk({ level: 0 }), tui.row('train')!, false, Date.now(), { idWidth: 8, gpuWidth: 0, columns: 200 });
    expect(row).toContain(`slurm job ${trainJob} RUNNING on ${jobInfo(trainJob).NodeList}`);

    const second = await s.flow(['run', 'r.yml', '--ui', 'json']);
    expect(second.code).toBe(0);
    expect(s.executions(runIdOf(second.events))).toEqual({ prepare: 'cached', train: 'cached', eval: 'cached' });
    // The plain reporter (CI logs) says where each cluster step runs; a fully cached run submits nothing.
    const plain = await s.flow(['run', 'r.yml', '--ui', 'plain', '--force', 'eval']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/eval +│ slurm job \d+: RUNNING \(on \S+\)/);
    expect(states(second.events)).toEqual([]);
  });

  it('submits the 4 variants of a matrix at once and Slurm runs them concurrently', async (t) => {
    if (skip) return t.skip(skip);
    const s = sandbox();
    s.write(
      'm.yml',
      `
name: sweep
executor: slurm
params: { rank: 1 }
matrix: { rank: [1, 2, 3, 4] }
steps:
  train:
    run: sleep 5; echo \${params.rank} > r.txt
    resources: { gpus: 1 }
    outputs: { r: r.txt }
`,
    );
    const r = await s.flow(['run', 'm.yml', '--ui', 'json', '--jobs', '4']);
    expect(r.code).toBe(0);
    const ids = jobIds(r.events);
    expect(ids).toHaveLength(4);
    // From Slurm's own records (once it has closed the jobs): every job started before any of them ended.
    for (const end = Date.now() + 30_000; !ids.every((id) => jobInfo(id).JobState === 'COMPLETED') && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100));
    const infos = ids.map(jobInfo);
    const latestStart = Math.max(...infos.map((i) => Date.parse(i.StartTime!)));
    const earliestEnd = Math.min(...infos.map((i) => Date.parse(i.EndTime!)));
    expect(latestStart).toBeLessThan(earliestEnd);
  });

  it('Ctrl-C mid-run scancels the jobs: nothing is left in squeue, the step is recorded cancelled', async (t) => {
    if (skip) return t.skip(skip);
    const s = sandbox();
    s.write('c.yml', `name: cancel\nexecutor: slurm\nsteps:\n  a: { run: sleep 300 && echo a }\n  b: { run: sleep 300 && echo b }\n`);
    const run = startRun(s, ['c.yml']);
    await run.waitFor((e) => e.type === 'step-state' && e.step === 'a' && e.state === 'RUNNING');
    await run.waitFor((e) => e.type === 'step-state' && e.step === 'b' && e.state === 'RUNNING');
    expect(queue().split('\n')).toHaveLength(2);
    run.child.kill('SIGINT');
    await run.child;
    expect(queue()).toBe('');
    expect(s.executions(runIdOf(run.events))).toEqual({ a: 'cancelled', b: 'cancelled' });
  });

  it('after a SIGKILL of the coordinator, the next run adopts the still-running job (one job id, not two)', async (t) => {
    if (skip) return t.skip(skip);
    const s = sandbox();
    s.write('k.yml', `name: adopt\nexecutor: slurm\nsteps:\n  train:\n    run: sleep 5; echo "trained by $SLURM_JOB_ID" > m.txt\n    outputs: { m: m.txt }\n`);
    const first = startRun(s, ['k.yml']);
    const running = (await first.waitFor((e) => e.type === 'step-state' && e.state === 'RUNNING')) as StateEvent;
    first.child.kill('SIGKILL');
    await first.child;
    expect(queue()).toContain(running.jobId!);

    const second = await s.flow(['run', 'k.yml', '--ui', 'json']);
    expect(second.code).toBe(0);
    expect(states(second.events)[0]).toMatchObject({ state: 'ADOPTED', jobId: running.jobId });
    expect(jobIds(second.events)).toEqual([running.jobId]);
    const done = second.events.find((e) => e.type === 'step-done');
    expect(done && done.type === 'step-done' && readFileSync(done.outputs.m!, 'utf8')).toBe(`trained by ${running.jobId}\n`);
    // Slurm only ever saw the one job for this step key.
    const tag = jobInfo(running.jobId!).JobName!.replace(/.*-/, '-');
    expect(cluster!.cli('squeue', ['-h', '-t', 'all', '-o', '%j']).split('\n').filter((n) => n.endsWith(tag))).toHaveLength(1);
  });

  it("an sbatch rejection fails the step with Slurm's message", async (t) => {
    if (skip) return t.skip(skip);
    const s = sandbox();
    s.write('p.yml', `name: reject\nexecutor: { type: slurm, partition: nosuchpartition }\nsteps:\n  a: { run: 'true' }\n`);
    const r = await s.flow(['run', 'p.yml', '--ui', 'json']);
    expect(r.code).not.toBe(0);
    const failed = r.events.find((e) => e.type === 'step-failed');
    expect(failed && failed.type === 'step-failed' && failed.error).toMatch(/rejected by sbatch: .*invalid partition/i);
  });

  it('a job over its resources.time is failed as a time limit, and nothing is committed', async (t) => {
    if (skip) return t.skip(skip);
    // Slurm's smallest limit is one minute, enforced on slurmctld's 30-second pass.
    const s = sandbox();
    s.write('t.yml', `name: slow\nexecutor: slurm\nsteps:\n  train:\n    run: sleep 600 > out.txt\n    resources: { time: '00:01:00' }\n    outputs: { out: out.txt }\n`);
    const r = await s.flow(['run', 't.yml', '--ui', 'json']);
    expect(r.code).toBe(1);
    const failed = r.events.find((e) => e.type === 'step-failed');
    expect(failed && failed.type === 'step-failed' && failed.error).toMatch(/hit its time limit: TIMEOUT.*job \d+/);
    expect(states(r.events).at(-1)!.state).toBe('TIMEOUT');
    expect(s.executions(runIdOf(r.events))).toEqual({ train: 'failed' });
    expect(r.events.some((e) => e.type === 'step-done')).toBe(false);
  }, 180_000);

  // A job that dies under Slurm's hand: the step fails with Slurm's reason, nothing is committed,
  // and the next run submits it again and finishes it. The recipe keeps its progress outside the
  // work dir, as a training step keeps its checkpoints: the second attempt picks up from the first.
  const interruptions = [
    {
      what: 'its node fails',
      error: /lost its node: NODE_FAIL.*job \d+/,
      state: 'NODE_FAIL',
      interrupt: (_jobId: string, node: string) => cluster!.cli('scontrol', ['update', `nodename=${node}`, 'state=down', 'reason=flow-test']),
    },
    {
      what: 'a job of a higher partition preempts it',
      error: /was preempted: PREEMPTED.*job \d+/,
      state: 'PREEMPTED',
      interrupt: (_jobId: string, node: string) => cluster!.cli('sbatch', ['--parsable', '-p', URGENT, '--exclusive', '-w', node, '--output=/dev/null', '--wrap', 'sleep 1']),
    },
  ];
  for (const c of interruptions) {
    it(`a job is failed with Slurm's reason when ${c.what}; nothing is committed; the next run finishes it`, async (t) => {
      if (skip) return t.skip(skip);
      const s = sandbox();
      const progress = join(s.dir, 'progress');
      s.write('i.yml', `name: interrupted\nexecutor: slurm\nsteps:\n  train:\n    run: echo "$SLURM_JOB_ID" >> ${progress}; if [ $(wc -l < ${progress}) -lt 2 ]; then sleep 300; fi; echo "finished by $SLURM_JOB_ID" > m.txt\n    outputs: { m: m.txt }\n`);
      const first = startRun(s, ['i.yml']);
      const running = (await first.waitFor((e) => e.type === 'step-state' && e.state === 'RUNNING')) as StateEvent;
      const node = jobInfo(running.jobId!).NodeList!;
      c.interrupt(running.jobId!, node);
      expect((await first.child).exitCode).toBe(1);
      const failed = first.events.find((e) => e.type === 'step-failed');
      expect(failed && failed.type === 'step-failed' && failed.error).toMatch(c.error);
      expect(states(first.events).at(-1)).toMatchObject({ state: c.state, jobId: running.jobId });
      expect(s.executions(runIdOf(first.events))).toEqual({ train: 'failed' });
      expect(first.events.some((e) => e.type === 'step-done')).toBe(false);
      const plan = first.events.find((e) => e.type === 'plan') as Extract<EngineEvent, { type: 'plan' }>;
      expect(existsSync(join(s.cache, 'steps', plan.steps[0]!.key!))).toBe(false);

      // The node comes back (ReturnToService=2 returns it as soon as its slurmd answers; resume if not).
      for (const end = Date.now() + 30_000; !/^(idle|mix)/.test(cluster!.cli('sinfo', ['-h', '-n', node, '-p', cluster!.partition, '-o', '%T']).trim()); ) {
        if (Date.now() > end) throw new Error(`node ${node} did not come back`);
        try {
          cluster!.cli('scontrol', ['update', `nodename=${node}`, 'state=resume']);
        } catch {
          // Already on its way back.
        }
        await new Promise((res) => setTimeout(res, 200));
      }
      const second = await s.flow(['run', 'i.yml', '--ui', 'json']);
      expect(second.code, second.stderr).toBe(0);
      const [again] = jobIds(second.events);
      expect(again).not.toBe(running.jobId);
      const done = second.events.find((e) => e.type === 'step-done');
      expect(done && done.type === 'step-done' && readFileSync(done.outputs.m!, 'utf8')).toBe(`finished by ${again}\n`);
      expect(readFileSync(progress, 'utf8')).toBe(`${running.jobId}\n${again}\n`);
    }, 120_000);
  }

  it('--executor slurm without sbatch: one line, exit 2', async () => {
    const s = sandbox();
    s.write('n.yml', `name: nosbatch\nsteps:\n  a: { run: touch ran }\n`);
    const r = await s.flow(['run', 'n.yml', '--executor', 'slurm'], { env: { PATH: '/nonexistent' } });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/sbatch not found/);
  });
});
