// The engine end to end: real CLI processes, real files, real SQLite records.

import { readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lineFrom, runIdOf, sandbox } from './helpers/cli.js';

/** True while a process exists and is not a zombie waiting for a parent that will never reap it. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

// Three steps a -> b -> c plus an independent d; b's output depends on params.n.
const RECIPE = `
name: chain
params: { n: 2, word: hi }
steps:
  a:
    run: echo \${params.word} > a.txt
    outputs: { out: a.txt }
  b:
    run: for i in $(seq \${params.n}); do cat \${steps.a.outputs.out}; done > b.txt
    outputs: { out: b.txt }
  c:
    run: mkdir -p res && wc -l < \${steps.b.outputs.out} > res/lines && echo '{"ex":{"all":0.25}}' > metrics.json
    outputs: { res: res, metrics: metrics.json }
  d:
    run: echo independent > d.txt
    outputs: { out: d.txt }
`;

describe('caching', () => {
  it('a second run reuses every step (asserted from the step records)', async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    const first = await s.flow(['run', 'r.yml', '--ui', 'json']);
    expect(first.code).toBe(0);
    expect(s.executions(runIdOf(first.events))).toEqual({ a: 'done', b: 'done', c: 'done', d: 'done' });
    const second = await s.flow(['run', 'r.yml', '--ui', 'json']);
    expect(second.code).toBe(0);
    expect(s.executions(runIdOf(second.events))).toEqual({ a: 'cached', b: 'cached', c: 'cached', d: 'cached' });
    // Outputs of cached steps point at the committed entries, with the right content.
    const cDone = first.events.find((e) => e.type === 'step-done' && e.step === 'c');
    expect(cDone && cDone.type === 'step-done' && readFileSync(join(cDone.outputs.res!, 'lines'), 'utf8').trim()).toBe('2');
    expect(cDone && cDone.type === 'step-done' && cDone.metrics).toEqual({ ex: { all: 0.25 } });
  });

  it('changing one param re-runs exactly the steps that depend on it, and plan says why', async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    expect((await s.flow(['run', 'r.yml', '--ui', 'json'])).code).toBe(0);
    const plan = await s.flow(['plan', 'r.yml', '--json', '--set', 'n=3']);
    expect(plan.code).toBe(0);
    const steps = JSON.parse(plan.stdout).steps as Array<{ id: string; status: string; reasons: string[] }>;
    expect(Object.fromEntries(steps.map((x) => [x.id, x.status]))).toEqual({ a: 'cached', b: 'run', c: 'run', d: 'cached' });
    expect(steps.find((x) => x.id === 'b')!.reasons).toEqual(['param n changed 2 → 3']);
    expect(steps.find((x) => x.id === 'c')!.reasons).toEqual(['upstream b will run']);
    const run = await s.flow(['run', 'r.yml', '--ui', 'json', '--set', 'n=3']);
    expect(s.executions(runIdOf(run.events))).toEqual({ a: 'cached', b: 'done', c: 'done', d: 'cached' });
  });

  it('a re-run whose output is unchanged leaves its dependents cached', async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    await s.flow(['run', 'r.yml', '--ui', 'json']);
    const run = await s.flow(['run', 'r.yml', '--ui', 'json', '--force', 'a']);
    expect(s.executions(runIdOf(run.events))).toEqual({ a: 'done', b: 'cached', c: 'cached', d: 'cached' });
  });

  it('editing a step type\'s source re-runs the steps that use it', async () => {
    const s = sandbox();
    const plugin = join(s.dir, 'plugins');
    mkdirSync(join(plugin, 'steps', 'upper'), { recursive: true });
    const src = (suffix: string) => `
import { readFileSync, writeFileSync } from 'node:fs';
export default {
  name: 'upper', description: 'upper-cases a file', inputs: ['file'], sources: ['steps/upper'],
  schema: { type: 'object', additionalProperties: false, required: ['file'], properties: { file: { type: 'string' } } },
  outputs: { out: 'out.txt' },
  async run(ctx) { writeFileSync(ctx.outputs.out, readFileSync(ctx.with.file, 'utf8').toUpperCase() + '${suffix}'); },
};`;
    writeFileSync(join(plugin, 'steps', 'upper', 'index.js'), src(''));
    s.write('in.txt', 'hello');
    s.write('r.yml', `name: plug\nsteps:\n  up:\n    uses: upper\n    with: { file: in.txt }\n  cat:\n    run: cat \${steps.up.outputs.out} > o.txt\n    outputs: { o: o.txt }\n`);
    const env = { FLOW_STEPS_PATH: plugin };
    const first = await s.flow(['run', 'r.yml', '--ui', 'json'], { env });
    expect(first.code).toBe(0);
    expect(s.executions(runIdOf((await s.flow(['run', 'r.yml', '--ui', 'json'], { env })).events))).toEqual({ up: 'cached', cat: 'cached' });
    writeFileSync(join(plugin, 'steps', 'upper', 'index.js'), src('!'));
    const plan = JSON.parse((await s.flow(['plan', 'r.yml', '--json'], { env })).stdout);
    expect(plan.steps[0].reasons[0]).toMatch(/^implementation .*steps\/upper changed$/);
    const third = await s.flow(['run', 'r.yml', '--ui', 'json'], { env });
    expect(s.executions(runIdOf(third.events))).toEqual({ up: 'done', cat: 'done' });
    // Editing an input file re-runs too, and plan names the input.
    s.write('in.txt', 'changed');
    const plan2 = JSON.parse((await s.flow(['plan', 'r.yml', '--json'], { env })).stdout);
    expect(plan2.steps[0].reasons).toEqual(['input with.file changed']);
  });
});

describe('selection', () => {
  const setup = async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    await s.flow(['run', 'r.yml', '--ui', 'json']);
    return s;
  };
  const statuses = async (s: ReturnType<typeof sandbox>, args: string[]) => {
    const r = await s.flow(['run', 'r.yml', '--ui', 'json', ...args]);
    expect(r.code).toBe(0);
    return s.executions(runIdOf(r.events));
  };

  it('--only runs just the named step against cached upstream results', async () => {
    const s = await setup();
    expect(await statuses(s, ['--only', 'b', '--force', 'b'])).toEqual({ a: 'cached', b: 'done' });
    expect(await statuses(s, ['--only', 'c,d', '--force-all'])).toEqual({ a: 'cached', b: 'cached', c: 'done', d: 'done' });
  });

  it('--from runs a step and its dependents; --until a step and its upstream', async () => {
    const s = await setup();
    expect(await statuses(s, ['--from', 'b', '--force-all'])).toEqual({ a: 'cached', b: 'done', c: 'done' });
    expect(await statuses(s, ['--until', 'b', '--force-all'])).toEqual({ a: 'done', b: 'done' });
    expect(await statuses(s, ['--from', 'b', '--until', 'b', '--force', 'b'])).toEqual({ a: 'cached', b: 'done' });
  });

  it('--force re-runs the named step even though it is cached', async () => {
    const s = await setup();
    expect(await statuses(s, ['--force', 'd'])).toEqual({ a: 'cached', b: 'cached', c: 'cached', d: 'done' });
  });

  it('--only on a step whose upstream has no cached result is a usage error', async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    const r = await s.flow(['run', 'r.yml', '--only', 'c']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: step c needs b, which is not selected and has no cached result/);
  });

  it('an unknown step in a selection is a usage error', async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    const r = await s.flow(['run', 'r.yml', '--only', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--only nope: no such step (steps: a, b, c, d)');
  });
});

describe('failures and interruptions', () => {
  it('a failing step exits 1, records its error, skips dependents and commits nothing', async () => {
    const s = sandbox();
    s.write('r.yml', `name: f\nsteps:\n  a:\n    run: echo partial > o.txt; echo boom >&2; exit 3\n    outputs: { o: o.txt }\n  b:\n    run: cat \${steps.a.outputs.o}\n`);
    const r = await s.flow(['run', 'r.yml', '--ui', 'json']);
    expect(r.code).toBe(1);
    const failed = r.events.find((e) => e.type === 'step-failed');
    expect(failed && failed.type === 'step-failed' && failed.exitCode).toBe(3);
    expect(failed && failed.type === 'step-failed' && readFileSync(failed.logPath!, 'utf8')).toContain('boom');
    expect(s.executions(runIdOf(r.events))).toEqual({ a: 'failed' });
    expect(r.events.some((e) => e.type === 'step-skipped' && e.step === 'b')).toBe(true);
    expect(existsSync(join(s.cache, 'steps')) ? readdirSync(join(s.cache, 'steps')) : []).toEqual([]);
  });

  it('a declared output the command did not create fails the step', async () => {
    const s = sandbox();
    s.write('r.yml', `name: f\nsteps:\n  a:\n    run: echo nothing\n    outputs: { o: missing.txt }\n`);
    const r = await s.flow(['run', 'r.yml', '--ui', 'json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('declared output \\"o\\" (missing.txt) was not created');
  });

  it('SIGKILL mid-step: the re-run serves no partial output and skips finished steps', async () => {
    const s = sandbox();
    // b writes half its output, then hangs; only a complete b may ever be committed.
    s.write('r.yml', `name: k\nsteps:\n  a:\n    run: echo A > a.txt\n    outputs: { o: a.txt }\n  b:\n    run: cat \${steps.a.outputs.o} > /dev/null; echo half > b.txt; if [ ! -f "$FLOW_RECIPE_DIR/go" ]; then sleep 30 & echo $! > "$FLOW_RECIPE_DIR/pid"; wait; fi; echo whole >> b.txt\n    outputs: { o: b.txt }\n`);
    const child = s.spawn(['run', 'r.yml', '--ui', 'json']);
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('"type":"step-start","runId"') && out.includes('"step":"b"')) resolve();
      });
    });
    while (!existsSync(join(s.dir, 'pid'))) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGKILL');
    await child;
    expect(readdirSync(join(s.cache, 'steps')).length).toBe(1); // only a
    // The reaper stops the killed run's orphaned step process.
    await expect.poll(() => isRunning(Number(readFileSync(join(s.dir, 'pid'), 'utf8'))), { timeout: 5000 }).toBe(false);
    writeFileSync(join(s.dir, 'go'), '');
    const r = await s.flow(['run', 'r.yml', '--ui', 'json']);
    expect(r.code).toBe(0);
    expect(s.executions(runIdOf(r.events))).toEqual({ a: 'cached', b: 'done' });
    const done = r.events.find((e) => e.type === 'step-done' && e.step === 'b');
    expect(done && done.type === 'step-done' && readFileSync(done.outputs.o!, 'utf8')).toBe('half\nwhole\n');
    // The killed run is recorded as crashed, not left running.
    const status = await s.flow(['status']);
    expect(status.stdout).toMatch(/crashed/);
  });

  it('SIGINT cancels: exit 130, the run and step are recorded cancelled, the child tree is stopped', async () => {
    const s = sandbox();
    s.write('r.yml', `name: c\nsteps:\n  a:\n    run: (sleep 60; echo late > "$FLOW_RECIPE_DIR/late") & echo $! > "$FLOW_RECIPE_DIR/pid"; wait\n    outputs: { o: o.txt }\n`);
    const child = s.spawn(['run', 'r.yml', '--ui', 'json']);
    await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => d.toString().includes('step-start') && resolve()));
    while (!existsSync(join(s.dir, 'pid'))) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const r = await child;
    expect(r.exitCode).toBe(130);
    const events = String(r.stdout).split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(s.executions(events[0].runId)).toEqual({ a: 'cancelled' });
    expect(events.at(-1)).toMatchObject({ type: 'run-end', status: 'cancelled' });
    expect(isRunning(Number(readFileSync(join(s.dir, 'pid'), 'utf8')))).toBe(false);
  });

  it('a second flow waits for the step another flow is running, then reuses its result', async () => {
    const s = sandbox();
    const gate = s.gate('slow');
    s.write('r.yml', `name: l\nsteps:\n  slow:\n    run: ${gate.command}; date +%s%N > o.txt\n    outputs: { o: o.txt }\n`);
    const first = s.spawn(['run', 'r.yml', '--ui', 'json']);
    await lineFrom(first, (l) => l.includes('step-start'));
    // The slow step stays blocked until the second flow says it waits for it.
    const args = ['run', 'r.yml', '--ui', 'json'];
    const waiting = s.spawn(args);
    await lineFrom(waiting, (l) => l.includes('another flow process'));
    await gate.release();
    const second = await s.collect(waiting, args);
    const a = await first;
    expect(a.exitCode).toBe(0);
    expect(second.code).toBe(0);
    expect(second.events.some((e) => e.type === 'warning' && /another flow process \(pid \d+\) is running slow/.test(e.message))).toBe(true);
    expect(s.executions(runIdOf(second.events))).toEqual({ slow: 'cached' });
  });
});

describe('scheduling', () => {
  it('hands out GPU ids as slots: no two running steps share a GPU', async () => {
    const s = sandbox();
    // The step name is in each command so the three keys differ (equal keys would share one result).
    const step = (name: string, n: number) =>
      `  ${name}:\n    run: echo "$CUDA_VISIBLE_DEVICES $(date +%s%N) ${name}" > o.txt; sleep 0.4; date +%s%N >> o.txt\n    outputs: { o: o.txt }\n    resources: { gpus: ${n} }\n`;
    s.write('r.yml', `name: g\nsteps:\n${step('one', 1)}${step('two', 1)}${step('both', 2)}`);
    const r = await s.flow(['run', 'r.yml', '--ui', 'json', '--gpus', '0,1', '--jobs', '3']);
    expect(r.code).toBe(0);
    const spans = r.events
      .filter((e) => e.type === 'step-done')
      .map((e) => {
        const [first, end] = readFileSync((e as { outputs: Record<string, string> }).outputs.o!, 'utf8').trim().split('\n');
        const [gpus, start] = first!.split(' ');
        return { gpus: gpus!.split(',').map(Number), start: Number(start), end: Number(end) };
      });
    expect(spans.map((x) => x.gpus.length).sort()).toEqual([1, 1, 2]);
    for (const x of spans) {
      for (const y of spans) {
        if (x === y || !x.gpus.some((g) => y.gpus.includes(g))) continue;
        expect(x.end <= y.start || y.end <= x.start).toBe(true);
      }
    }
  });

  it('--jobs bounds the steps running at once, in their processes and in the events reporters see', async () => {
    const s = sandbox();
    const steps = Array.from({ length: 6 }, (_, i) => `  s${i}:\n    run: date +%s%N > o.txt; sleep 0.3; date +%s%N >> o.txt\n    env: { I: '${i}' }\n    outputs: { o: o.txt }\n`);
    s.write('r.yml', `name: j\nsteps:\n${steps.join('')}`);
    const r = await s.flow(['run', 'r.yml', '--ui', 'json', '--jobs', '2']);
    expect(r.code, r.stderr).toBe(0);
    const spans = r.events.flatMap((e) => (e.type === 'step-done' ? [readFileSync(e.outputs.o!, 'utf8').trim().split('\n').map(Number)] : []));
    expect(spans).toHaveLength(6);
    const most = (points: Array<[number, number]>) => {
      let now = 0;
      let peak = 0;
      for (const [, d] of points.sort((a, b) => a[0] - b[0] || a[1] - b[1])) peak = Math.max(peak, (now += d));
      return peak;
    };
    expect(most(spans.flatMap(([a, b]) => [[a!, 1], [b!, -1]] as Array<[number, number]>))).toBe(2);
    // A step is shown running (step-start) only once it holds a slot.
    expect(most(r.events.flatMap((e, i) => (e.type === 'step-start' ? [[i, 1]] : e.type === 'step-done' ? [[i, -1]] : []) as Array<[number, number]>))).toBe(2);
  });

  it('asking for more GPUs than exist is a usage error', async () => {
    const s = sandbox();
    s.write('r.yml', `name: g\nsteps:\n  big:\n    run: echo\n    resources: { gpus: 4 }\n`);
    const r = await s.flow(['run', 'r.yml', '--gpus', '0,1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('step big asks for 4 GPUs but only 2 are available');
  });
});

describe('validation', () => {
  const dir = join(import.meta.dirname, 'fixtures', 'bad-recipes');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yml'));

  it('has at least 15 broken recipes', () => {
    expect(files.length).toBeGreaterThanOrEqual(15);
  });

  it.each(files)('%s gives one file:line:col error and exit 2', async (file) => {
    const s = sandbox();
    const expected = readFileSync(join(dir, file), 'utf8').split('\n')[0]!.replace(/^# expect: /, '');
    const r = await s.flow(['validate', join(dir, file)]);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`${file}:${expected}`);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('flow plan refuses a broken cross-field rule as validate does, before anything runs', async () => {
    const s = sandbox();
    const file = '22-tp-needs-full.yml';
    const r = await s.flow(['plan', join(dir, file)]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(new RegExp(`^error: \\S*${file}:11:19: steps\\.train\\.with\\.finetuning: tp above 1 is for finetuning: full`));
  });
});

describe('inspection commands', () => {
  it('status, log, dag and gc work on real runs', async () => {
    const s = sandbox();
    s.write('r.yml', RECIPE);
    const first = await s.flow(['run', 'r.yml', '--ui', 'json']);
    const second = await s.flow(['run', 'r.yml', '--ui', 'json', '--set', 'word=bye']);
    expect(second.code).toBe(0);

    const status = await s.flow(['status']);
    expect(status.stdout.split('\n')[0]).toMatch(/^RUN\s+RECIPE\s+STATUS\s+TIME\s+RAN\s+CACHED\s+FAILED$/);
    expect(status.stdout.split('\n')[1]).toMatch(new RegExp(`^${runIdOf(second.events)}\\s+chain\\s+done .* 3\\s+1\\s+0$`));
    const one = await s.flow(['status', runIdOf(first.events)]);
    expect(one.stdout).toMatch(/\nSTEP\s+STATUS\s+TIME\s+KEY\na\s+done/);

    const log = await s.flow(['log', 'last', 'b']);
    expect(log.stdout).toBe('');
    s.write('r2.yml', RECIPE.replace('> b.txt', '> b.txt; echo logged-line'));
    await s.flow(['run', 'r2.yml', '--ui', 'json']);
    expect((await s.flow(['log', 'last', 'b'])).stdout).toBe('logged-line');

    const dag = await s.flow(['dag', 'r.yml', '--format', 'mermaid']);
    expect(dag.stdout).toContain('graph TD');
    expect(dag.stdout).toContain('s0 --> s1');
    const dot = await s.flow(['dag', 'r.yml', '--format', 'dot']);
    expect(dot.stdout).toContain('"b" -> "c";');

    // Keep only the last run's entries (a, b of r2, c, d). Removed: b of r.yml and the word=bye a, b, c.
    // Freed: only objects no kept entry shares: "bye\n" (4 B) and "bye\nbye\n" (8 B); b of r.yml has the
    // same bytes as b of r2, and c's outputs are the same whatever the word.
    const gc = await s.flow(['gc', '--keep', '1']);
    expect(gc.stdout).toMatch(/^gc: kept entries of the last 1 run\(s\); removed 4 entries, freed 12 B/);
    const again = await s.flow(['run', 'r2.yml', '--ui', 'json']);
    expect(Object.values(s.executions(runIdOf(again.events))).every((x) => x === 'cached')).toBe(true);
    const back = await s.flow(['plan', 'r.yml', '--json']);
    expect(JSON.parse(back.stdout).steps.map((x: { status: string }) => x.status)).toEqual(['cached', 'run', 'run', 'cached']);
  });
});
