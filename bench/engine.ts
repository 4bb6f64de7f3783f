// bench/engine.ts — what the engine itself costs (issue 13): start-up and small
// steps, each printed as "flow X, baseline Y, ratio Z" from this one run.
//
// 1. `flow --version` vs `node -e 0` (median of several runs, same process tree).
// 2. `flow plan` of a small, fully cached shell recipe vs `node -e 0`.
// 3. 500 trivial `echo` steps at `--jobs 2` (whole `flow run`, start-up included)
//    vs `make -j2` on a generated Makefile running the same commands (and, for
//    context, vs make running them in flow's shell, bash -eo pipefail, and the
//    floor under flow: the same processes started through flow's process path
//    with no engine around them, bench/process-floor.ts).
// 4. Engine CPU per step (this process's user+system CPU, children excluded) for
//    500 and 2,000 independent `echo` steps: it should not grow with the count.
// 5-7. Planning at 2,000 and 10,000 steps vs `snakemake -n`, a 100,000-file input
//    folder vs `dvc status` and plain hashing, a 10,000-step run's peak RSS and
//    the flow process's CPU per step against a 500-step run's:
//    bench/engine-scale.ts (baselines from a bench-only venv, bench/.venv).
//
// Run with `npm run bench` (or node dist/bench/engine.js [section ...] after a build).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStepRegistry } from '../src/cli/registry.js';
import { hugeFolder, planning, runRss } from './engine-scale.js';
import { line, median, timeOnce } from './timing.js';
import type { EngineEvent } from '../src/events.js';
import { ROOT } from '../src/root.js';
import { runRecipe } from '../src/scheduler/run.js';
import { openWorkspace } from '../src/scheduler/workspace.js';

const dir = mkdtempSync(join(tmpdir(), 'flow-bench-engine-'));
const FLOW = join(ROOT, 'bin', 'flow.js');
const REPEATS = 7;

/** Wall time of one command in ms, with this bench's cache. */
const time = (file: string, args: string[], cwd = dir) => timeOnce(file, args, cwd, { ...process.env, FLOW_CACHE: join(dir, 'cache') });

/** Interleaves flow and baseline runs so machine load hits both alike; returns the medians. */
function paired(flow: () => number, baseline: () => number, n = REPEATS): [number, number] {
  const f: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < n; i++) {
    f.push(flow());
    b.push(baseline());
  }
  return [median(f), median(b)];
}

function echoRecipe(file: string, n: number): void {
  const lines = [`name: echo-${n}`, 'steps:'];
  for (let i = 0; i < n; i++) lines.push(`  e${i}:`, `    run: echo ${i}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
}

const nodeE0 = () => time(process.execPath, ['-e', '0']);

function startup(): void {
  const [v, n] = paired(() => time(process.execPath, [FLOW, '--version']), nodeE0);
  line('flow --version vs node -e 0', v, n, 'ms', 1.5);

  const recipe = join(dir, 'small.yml');
  writeFileSync(
    recipe,
    [
      'name: small',
      'params: { n: 3 }',
      'steps:',
      '  a:',
      '    run: seq ${params.n} > a.txt',
      '    outputs: { a: a.txt }',
      '  b:',
      '    run: wc -l < ${steps.a.outputs.a} > b.txt',
      '    outputs: { b: b.txt }',
      '  c:',
      '    run: cat ${steps.a.outputs.a} ${steps.b.outputs.b} > c.txt',
      '    outputs: { c: c.txt }',
      '',
    ].join('\n'),
  );
  time(process.execPath, [FLOW, 'run', recipe, '--ui', 'plain']);
  const [p, n2] = paired(() => time(process.execPath, [FLOW, 'plan', recipe]), nodeE0);
  line('flow plan (3-step shell recipe, all cached) vs node -e 0', p, n2, 'ms', 2);
}

function smallSteps(): void {
  const n = 500;
  const recipe = join(dir, `echo-${n}.yml`);
  echoRecipe(recipe, n);
  const mk = join(dir, 'make');
  mkdirSync(mk);
  const targets = Array.from({ length: n }, (_, i) => `e${i}`);
  const rules = targets.map((t, i) => `${t}:\n\t@echo ${i} > ${t}.out\n`);
  writeFileSync(join(mk, 'Makefile'), `.PHONY: all ${targets.join(' ')}\nall: ${targets.join(' ')}\n${rules.join('')}`);
  // For context, not a goal: make running the same commands in flow's shell, bash -eo pipefail,
  // which starts slower than make's /bin/sh; the gap between the two lines is the shell's share.
  writeFileSync(join(mk, 'Makefile.bash'), `SHELL := /bin/bash\n.SHELLFLAGS := -eo pipefail -c\n.PHONY: all ${targets.join(' ')}\nall: ${targets.join(' ')}\n${rules.join('')}`);
  // Each flow run gets a fresh cache so every step really runs.
  let k = 0;
  const flow = () => time(process.execPath, [FLOW, 'run', recipe, '--jobs', '2', '--ui', 'plain', '--cache-dir', join(dir, `cache-echo-${k++}`)]);
  const make = () => time('make', ['-s', '-j2', '-f', join(mk, 'Makefile')], mk);
  const makeBash = () => time('make', ['-s', '-j2', '-f', join(mk, 'Makefile.bash')], mk);
  const floor = () => time(process.execPath, [join(ROOT, 'dist', 'bench', 'process-floor.js'), String(n), '2'], mk);
  const f: number[] = [];
  const m: number[] = [];
  const mb: number[] = [];
  const pf: number[] = [];
  for (let i = 0; i < 5; i++) {
    f.push(flow());
    m.push(make());
    mb.push(makeBash());
    pf.push(floor());
  }
  line(`${n} echo steps at --jobs 2 vs make -j2 (wall)`, median(f), median(m), 'ms', 3);
  line(`  the same, vs make -j2 with SHELL=bash -eo pipefail (context)`, median(f), median(mb), 'ms');
  // Context: how much of the run is the process path (node's start, the launcher, bash), and how much the engine.
  line(`  flow's process path alone (node, launcher, bash; no engine) vs make -j2 (context)`, median(pf), median(m), 'ms');
  console.log(`  (${(median(f) / n).toFixed(1)} ms of flow wall per step, ${(median(m) / n).toFixed(1)} ms of make's; the engine adds ${((median(f) - median(pf)) / n).toFixed(2)} ms per step over its process path)`);
}

async function cpuPerStep(n: number): Promise<number> {
  const recipe = join(dir, `cpu-${n}.yml`);
  echoRecipe(recipe, n);
  const ws = openWorkspace(join(dir, `cache-cpu-${n}`));
  const events: EngineEvent[] = [];
  const c0 = process.cpuUsage();
  const r = await runRecipe(ws, createStepRegistry(), { recipeFile: recipe, sets: [], jobs: 2, argv: [], signal: new AbortController().signal, emit: (e) => events.push(e) });
  const c = process.cpuUsage(c0);
  ws.close();
  if (r.status !== 'done') throw new Error(`${n}-step run ${r.status}`);
  return (c.user + c.system) / 1000 / n;
}

async function cpu(): Promise<void> {
  await cpuPerStep(50); // warm up the JIT so the 500-step figure is not start-up
  const small = await cpuPerStep(500);
  const big = await cpuPerStep(2000);
  line('engine CPU per step, 2,000 steps vs 500 steps', big, small, 'ms/step', 1.2);
}

try {
  console.log(`engine bench (${REPEATS} paired runs per start-up figure, medians)`);
  const sections: Record<string, () => void | Promise<void>> = {
    startup,
    small: smallSteps,
    cpu,
    planning: () => planning(dir),
    huge: () => hugeFolder(dir),
    rss: () => runRss(dir),
  };
  // `node dist/bench/engine.js small cpu` runs just those sections; no argument runs all.
  const chosen = process.argv.slice(2);
  for (const name of chosen) if (!(name in sections)) throw new Error(`unknown section ${name}; have ${Object.keys(sections).join(', ')}`);
  for (const [name, run] of Object.entries(sections)) if (chosen.length === 0 || chosen.includes(name)) await run();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
