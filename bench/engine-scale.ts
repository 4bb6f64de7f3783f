// bench/engine-scale.ts — the engine at scale (issue 13), for bench/engine.ts:
//
// 1. Planning: 2,000 and 10,000-step DAGs. flow's engine time (makePlan in this
//    process, after a warm-up) against the goals, and the whole `flow plan`
//    process beside `snakemake -n` on the same DAG (one wildcard rule, same edges;
//    -n runs nothing, so its command only has to be equivalent).
// 2. A huge input folder: 100,000 files read by one step through an `inputs:` glob.
//    The no-op `flow plan` process beside `dvc status` on the same folder (a stage
//    that depends on it, reproduced once), and the first plan's engine time beside
//    a plain XXH128 hashing of those files.
// 3. The peak RSS of a 10,000-step `flow run` (echo steps), and the flow process's own
//    CPU per step against a 500-step run's (both read from /proc).
//
// The baselines come from a bench-only venv (bench/.venv, git-ignored), made from
// PyPI on first use; the product's own Python environment is never touched. Where
// it cannot be made (no network), the baseline is printed as skipped.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hashFileContent } from '../src/cache/hash.js';
import { createStepRegistry } from '../src/cli/registry.js';
import { ROOT } from '../src/root.js';
import { line, median, timeOnce } from './timing.js';
import { makePlan } from '../src/scheduler/plan.js';
import { openWorkspace } from '../src/scheduler/workspace.js';

const FLOW = join(ROOT, 'bin', 'flow.js');
const VENV = join(ROOT, 'bench', '.venv');
/** Pinned so that figures from different days compare. */
const BASELINE_PACKAGES = ['snakemake==9.27.1', 'dvc==3.67.1'];

/** bench/.venv/bin/<tool>, installing the pinned baselines on first use; undefined when that fails. */
function baselineTool(tool: 'snakemake' | 'dvc'): string | undefined {
  const bin = join(VENV, 'bin', tool);
  if (existsSync(bin)) return bin;
  console.log(`(installing ${BASELINE_PACKAGES.join(', ')} into bench/.venv for the baselines)`);
  const py = spawnSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
  const pip = py.status === 0 && spawnSync(join(VENV, 'bin', 'pip'), ['install', '-q', ...BASELINE_PACKAGES], { stdio: 'inherit' });
  return pip && pip.status === 0 && existsSync(bin) ? bin : undefined;
}

/**
 * Step i reads steps i/2 and i-1. One flow-style line per step: a 10,000-step recipe
 * must stay under the 1 MiB recipe limit (src/recipe/load.ts).
 */
const depsOf = (i: number) => (i === 0 ? [] : [...new Set([Math.floor(i / 2), i - 1])]);

function dagRecipe(file: string, n: number): void {
  const lines = [`name: dag-${n}`, 'steps:'];
  for (let i = 0; i < n; i++) {
    const reads = depsOf(i).map((d) => `\${steps.s${d}.outputs.o}`).join(' ');
    lines.push(`  s${i}: {run: '${reads ? `cat ${reads}` : 'echo 0'} > o', outputs: {o: o}}`);
  }
  writeFileSync(file, `${lines.join('\n')}\n`);
}

function dagSnakefile(dir: string, n: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'Snakefile'),
    [
      `N = ${n}`,
      'def deps(i):',
      '    return sorted({i // 2, i - 1}) if i else []',
      'wildcard_constraints:',
      '    i = r"\\d+"',
      'rule all:',
      '    input: expand("o/s{i}.txt", i=range(N))',
      'rule s:',
      '    output: "o/s{i}.txt"',
      '    input: lambda w: [f"o/s{d}.txt" for d in deps(int(w.i))]',
      '    shell: "cat {input} /dev/null > {output}"',
      '',
    ].join('\n'),
  );
}

async function planEngineMs(recipe: string, cacheDir: string): Promise<number> {
  const ws = openWorkspace(cacheDir);
  try {
    const t0 = performance.now();
    await makePlan(ws, createStepRegistry(), { recipeFile: recipe, sets: [] });
    return performance.now() - t0;
  } finally {
    ws.close();
  }
}

export async function planning(dir: string): Promise<void> {
  const snakemake = baselineTool('snakemake');
  const warm = join(dir, 'dag-200.yml');
  dagRecipe(warm, 200);
  await planEngineMs(warm, join(dir, 'cache-plan-warm')); // the JIT warm, as a long-lived flow would be
  for (const [n, goalMs] of [[2000, 400], [10000, 2000]] as const) {
    const recipe = join(dir, `dag-${n}.yml`);
    dagRecipe(recipe, n);
    const cache = join(dir, `cache-plan-${n}`);
    const engine = median([await planEngineMs(recipe, cache), await planEngineMs(recipe, cache), await planEngineMs(recipe, cache)]);
    const env = { ...process.env, FLOW_CACHE: cache };
    const cli = median([0, 1, 2].map(() => timeOnce(process.execPath, [FLOW, 'plan', recipe], dir, env)));
    if (!snakemake) {
      console.log(`plan of ${n} steps: flow ${engine.toFixed(1)} ms engine time (goal <= ${goalMs} ms: ${engine <= goalMs ? 'met' : 'MISSED'}), whole flow plan ${cli.toFixed(0)} ms; snakemake baseline skipped (bench/.venv could not be made)`);
      continue;
    }
    const smk = join(dir, `smk-${n}`);
    dagSnakefile(smk, n);
    const sm = median([0, 1, 2].map(() => timeOnce(snakemake, ['-n', '-q', '--cores', '1'], smk)));
    line(`plan of ${n} steps, flow engine time vs snakemake -n (whole process)`, engine, sm, 'ms', goalMs, `flow <= ${goalMs} ms`);
    line(`plan of ${n} steps, whole flow plan process vs snakemake -n`, cli, sm, 'ms');
  }
}

/** 100,000 small distinct files in 100 folders of 1,000: big/dNN/fNNNN.txt. */
function makeFolder(root: string, files: number): string[] {
  const paths: string[] = [];
  for (let d = 0; d < files / 1000; d++) {
    const sub = join(root, `d${d}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 1000; f++) {
      const p = join(sub, `f${f}.txt`);
      writeFileSync(p, `file ${d}/${f}\n`);
      paths.push(p);
    }
  }
  return paths;
}

export async function hugeFolder(dir: string, files = 100_000): Promise<void> {
  const work = join(dir, 'huge');
  const paths = makeFolder(join(work, 'big'), files);
  const recipe = join(work, 'huge.yml');
  writeFileSync(recipe, ['name: huge', 'steps:', '  s:', "    run: 'true'", "    inputs: ['big/*/*.txt']", ''].join('\n'));

  // First plan (every file hashed) vs hashing the same files in a plain loop, same hash.
  let t0 = performance.now();
  for (const p of paths) await hashFileContent(p);
  const plain = performance.now() - t0;
  const cache = join(work, 'cache');
  const first = await planEngineMs(recipe, cache);
  line(`first plan over ${files.toLocaleString('en')} input files (engine time) vs hashing them with XXH128`, first, plain, 'ms', 2);

  // No-op plan (after the step ran) vs dvc status (after dvc repro) on the same folder.
  const env = { ...process.env, FLOW_CACHE: cache };
  timeOnce(process.execPath, [FLOW, 'run', recipe, '--ui', 'plain'], work, env);
  const dvc = baselineTool('dvc');
  const flowPlan = () => timeOnce(process.execPath, [FLOW, 'plan', recipe], work, env);
  if (!dvc) {
    console.log(`no-op plan over ${files} files: flow ${median([flowPlan(), flowPlan(), flowPlan()]).toFixed(0)} ms; dvc baseline skipped (bench/.venv could not be made)`);
    return;
  }
  const dvcEnv = { ...process.env, DVC_NO_ANALYTICS: '1' };
  timeOnce(dvc, ['init', '--no-scm', '-q'], work, dvcEnv);
  timeOnce(dvc, ['stage', 'add', '-q', '-n', 's', '-d', 'big', 'true'], work, dvcEnv);
  timeOnce(dvc, ['repro', '-q'], work, dvcEnv);
  const status = () => timeOnce(dvc, ['status', '-q'], work, dvcEnv);
  status(); // its state database is warm from repro; one more so both sides start alike
  const f: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < 3; i++) {
    f.push(flowPlan());
    b.push(status());
  }
  line(`no-op plan over ${files.toLocaleString('en')} input files (whole process) vs dvc status`, median(f), median(b), 'ms', 0.5);
}

/** Peak RSS (VmHWM) of a process, sampled from /proc until it exits. */
/** Clock ticks per second of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/**
 * Runs a command, sampling /proc every 50 ms: its peak RSS, and its own CPU time (all its
 * threads, not its children's: for flow, the engine without the steps' processes), as of the
 * last sample before it exited.
 */
function sampled(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ mb: number; ms: number; cpuMs: number }> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let peak = 0;
    let cpuMs = 0;
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
    const timer = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
        // Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
        const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        cpuMs = ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ;
      } catch {
        // exited between ticks: keep the last sample
      }
    }, 50);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) rej(new Error(`${args.join(' ')} exited ${code}: ${err}`));
      else res({ mb: peak, ms: performance.now() - t0, cpuMs });
    });
  });
}

/** A whole `flow run` of n independent echo steps at --jobs 2, sampled. */
function echoRun(dir: string, n: number): Promise<{ mb: number; ms: number; cpuMs: number }> {
  const recipe = join(dir, `rss-${n}.yml`);
  const lines = [`name: rss-${n}`, 'steps:'];
  for (let i = 0; i < n; i++) lines.push(`  e${i}:`, `    run: echo ${i}`);
  writeFileSync(recipe, `${lines.join('\n')}\n`);
  const env = { ...process.env, FLOW_CACHE: join(dir, `cache-rss-${n}`) };
  return sampled(process.execPath, [FLOW, 'run', recipe, '--jobs', '2', '--ui', 'plain'], dir, env);
}

/** The 10,000-step run: its peak RSS beside `flow --version`'s, and the flow process's CPU per step beside a 500-step run's. */
export async function runRss(dir: string, n = 10_000): Promise<void> {
  const small = await echoRun(dir, 500);
  const r = await echoRun(dir, n);
  const idle = await sampled(process.execPath, [FLOW, '--version'], dir, process.env);
  line(`peak RSS of a ${n.toLocaleString('en')}-step flow run vs flow --version`, r.mb, idle.mb, 'MB');
  console.log(`  (the run took ${(r.ms / 1000).toFixed(1)} s, ${(r.ms / n).toFixed(1)} ms of wall per step)`);
  line(`flow process CPU per step, ${n.toLocaleString('en')} steps vs 500 (whole run)`, r.cpuMs / n, small.cpuMs / 500, 'ms/step', 1.2);
}
