// Real (non-pad) tokens per second of python:sft on the Spider training set with DB-GPT-Hub prompts,
// packed vs unpacked vs group_by_length, with the padding fraction of each; and python:tokenize's
// sharing: a 4-leg learning-rate sweep tokenizes once, and the throughput sweep after it (same
// records, tokenizer, template and lengths) takes no tokenization time. With bench/.venv-llamafactory
// present (bench/train.ts creates it), LLaMA-Factory's packing and neat_packing run the same model,
// data, lengths, batch, steps and threads (its own tokenization, once per mode and outside the
// timing, as flow's; its real tokens/s is the mean real tokens of the rows it packed times the rows it
// trained, over its train_runtime). BENCH_PACK_RUNS rounds, alternated (flow's three legs, then
// LLaMA-Factory's two), medians. No assertion: figures beside their baselines, settings printed.
//
// Settings: the quickstart's tiny Qwen2 model (hidden 128, 2 layers), DB-GPT-Hub's 2048/512 lengths,
// batch 8 rows (packed: 8 rows of up to 2560 tokens), LoRA r8 on q_proj,v_proj, fp32, no gradient
// checkpointing, BENCH_PACK_STEPS optimizer steps per leg, legs one at a time (--jobs 1), BENCH_THREADS
// torch threads (OMP_NUM_THREADS / MKL_NUM_THREADS in each step's env).
//
//   node dist/bench/packing.js      (BENCH_SPIDER=/work/shared/spider BENCH_PACK_STEPS=10 BENCH_PACK_RUNS=3 BENCH_THREADS=1;
//                                    BENCH_PACK_LF=0 skips LLaMA-Factory)
// FLOW_PYTHON names flow's interpreter; else flow's managed env is built.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ensurePythonEnv } from '../src/python/env.js';
import { doneStep, failures, flow, ROOT } from '../tests/helpers/tiny-seeds.js';
import { LF_LAUNCH, sh, VENV as LF_VENV, writeLoraConfig } from './llamafactory.js';

const SPIDER = process.env.BENCH_SPIDER ?? '/work/shared/spider';
const STEPS = Number(process.env.BENCH_PACK_STEPS ?? 10);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const RUNS = Number(process.env.BENCH_PACK_RUNS ?? 3);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const SOURCE = 2048;
const TARGET = 512;
const BATCH = 8;
const LORA = { rank: 8, alpha: 16, dropout: 0, target_modules: ['q_proj', 'v_proj'] };
const THREAD_ENV = { OMP_NUM_THREADS: String(THREADS), MKL_NUM_THREADS: String(THREADS) };

const python = (await ensurePythonEnv({
  root: ROOT, cacheDir: resolve(process.env.FLOW_CACHE ?? join(ROOT, 'cache')),
  interpreter: process.env.FLOW_PYTHON || undefined, log: (l) => console.error(`[python env] ${l}`),
})).python;
const dir = mkdtempSync(join(tmpdir(), 'flow-bench-packing-'));
const o = { cwd: dir, cache: join(dir, 'cache'), python };

/** The recipe: data, model, tokenize, and an sft per matrix variant. */
function recipe(name: string, matrix: Record<string, unknown>, params: Record<string, unknown>, train: Record<string, unknown>) {
  return stringify({
    name,
    params,
    matrix,
    steps: {
      data: { uses: 'spider-sft', with: { spider: SPIDER, schema_format: 'dbgpt-hub' } },
      model: {
        uses: 'python:init-model',
        with: { train_file: '${steps.data.outputs.train}', arch: 'qwen2', vocab_size: 2000, hidden_size: 128, intermediate_size: 352, layers: 2, heads: 4, max_position: 4096 },
      },
      tok: {
        uses: 'python:tokenize',
        with: { model: '${steps.model.outputs.model}', train_file: '${steps.data.outputs.train}', template: 'qwen', max_source_length: SOURCE, max_target_length: TARGET },
      },
      train: {
        uses: 'python:sft',
        env: THREAD_ENV,
        with: {
          model: '${steps.model.outputs.model}', tokenized: '${steps.tok.outputs.dataset}', finetuning: 'lora', lora: LORA,
          batch_size: BATCH, learning_rate: 0.0001, scheduler: 'constant', seed: 42, logging_steps: 5, save_steps: 100_000,
          load_check: false, ...train,
        },
      },
    },
  });
}

async function run(file: string, text: string, extra: string[] = []) {
  writeFileSync(join(dir, file), text);
  const r = await flow(['run', join(dir, file), '--ui', 'json', '--jobs', '1', ...extra], o);
  if (r.code !== 0) throw new Error(`${file} failed\n${r.stderr}\n${failures(r.events)}`);
  return r;
}
const metricsOf = (r: Awaited<ReturnType<typeof run>>, step: string) =>
  JSON.parse(readFileSync(doneStep(r.events, step)!.outputs.metrics!, 'utf8')) as Record<string, number>;
const ranSteps = (r: Awaited<ReturnType<typeof run>>, prefix: string) =>
  r.events.filter((e) => e.type === 'step-done' && (e as { step: string }).step.startsWith(prefix)).length;

try {
  console.log(`settings: Spider train (${SPIDER}), DB-GPT-Hub prompts, qwen template, ${SOURCE}/${TARGET} tokens, batch ${BATCH}, ` +
    `LoRA r${LORA.rank} q_proj,v_proj, fp32, no gradient checkpointing, ${STEPS} steps per leg, ${RUNS} alternated rounds, torch threads ${THREADS}, CPU; ` +
    'the machine is shared with other jobs (2 cores, loaded): figures are indicative');

  // 1. Tokenization: a 4-leg sweep (learning rates, 1 step each) tokenizes once.
  const sweep = await run('sweep.yml', recipe('bench-tok-sweep', { lr: [0.0001, 0.0002, 0.0004, 0.0008] }, { lr: 0.0001 },
    { learning_rate: '${params.lr}', max_steps: 1 }));
  const tok = metricsOf(sweep, 'tok');
  console.log(`tokenize: 4-leg sweep: ${ranSteps(sweep, 'train')} sft legs, tokenize ran ${ranSteps(sweep, 'tok')} time(s): ` +
    `${tok.examples} examples, ${tok.tokens} tokens in ${tok.tokenize_seconds} s`);

  // 2. Throughput, in BENCH_PACK_RUNS alternated rounds: flow's three legs (unpacked, group_by_length,
  // packed, from the same cached tokenized dataset; --force after the first round, whose results
  // would otherwise come from the cache), then LLaMA-Factory's packing and neat_packing. Medians.
  const legsFile = 'legs.yml';
  const legsText = recipe('bench-pack', {
    packing: [false, true], group_by_length: [false, true], exclude: [{ packing: true, group_by_length: true }],
  }, { packing: false, group_by_length: false }, { packing: '${params.packing}', group_by_length: '${params.group_by_length}', max_steps: STEPS });
  const flowLegs = [
    ['flow unpacked', 'train[packing=false,group_by_length=false]'],
    ['flow group_by_length', 'train[packing=false,group_by_length=true]'],
    ['flow packed', 'train[packing=true,group_by_length=false]'],
  ] as const;
  const runs = new Map<string, Array<{ tps: number; pad: number; s: number }>>();
  const add = (name: string, r: { tps: number; pad: number; s: number }) => runs.set(name, [...(runs.get(name) ?? []), r]);

  const lfPython = join(LF_VENV, 'bin', 'python');
  const lfOn = process.env.BENCH_PACK_LF !== '0' && existsSync(join(LF_VENV, 'bin', 'llamafactory-cli'));
  const lfModes = [['LLaMA-Factory packing', { packing: true }], ['LLaMA-Factory neat_packing', { packing: true, neat_packing: true }]] as const;
  const lfEnv = { ...process.env, ...THREAD_ENV, HF_HUB_OFFLINE: '1', DISABLE_VERSION_CHECK: '1', TOKENIZERS_PARALLELISM: 'false', CUDA_VISIBLE_DEVICES: '' };
  const lfRun = (cfg: string) => spawnSync(lfPython, ['-c', LF_LAUNCH, cfg], { cwd: dir, encoding: 'utf8', maxBuffer: 1 << 28, env: lfEnv });
  const lfCfg: Array<{ name: string; cfg: string; out: string; tokenized: string; perRow: number }> = [];

  for (let round = 0; round < RUNS; round++) {
    const legs = await run(legsFile, legsText, round === 0 ? [] : ['--force', 'train']);
    if (round === 0) {
      console.log(`tokenize: the throughput sweep after it ran tokenize ${ranSteps(legs, 'tok')} time(s) (cached: no tokenization time)`);
    }
    for (const [name, id] of flowLegs) {
      const m = metricsOf(legs, id);
      add(name, { tps: m.tokens_per_s!, pad: m.padding_fraction!, s: m.train_seconds! });
    }

    if (!lfOn) continue;
    if (round === 0) {
      // LLaMA-Factory's own tokenization of the same records, once per mode: given a tokenized_path
      // that does not exist yet, its first run tokenizes and saves the packed rows there, later runs
      // load them (outside train_runtime either way, as flow's tokenize step is outside train_seconds).
      const data = join(dir, 'lf-data');
      mkdirSync(data);
      writeFileSync(join(data, 'train.json'), readFileSync(doneStep(legs.events, 'data')!.outputs.train!));
      writeFileSync(join(data, 'dataset_info.json'), JSON.stringify({
        spider: { file_name: 'train.json', columns: { prompt: 'instruction', query: 'input', response: 'output', history: 'history' } },
      }));
      const model = doneStep(legs.events, 'model')!.outputs.model!;
      for (const [name, extra] of lfModes) {
        const i = lfCfg.length;
        const out = join(dir, `lf-${i}`);
        const lfTokenized = join(dir, `lf-tok-${i}`);
        const cfg = join(dir, `lf-${i}.yaml`);
        writeLoraConfig(cfg, { model, dataDir: data, tokenized: lfTokenized, out, cutoff: SOURCE + TARGET, batch: BATCH, lora: LORA }, {
          logging_steps: 5, max_steps: STEPS, lr_scheduler_type: 'constant', ...extra,
        });
        lfCfg.push({ name, cfg, out, tokenized: lfTokenized, perRow: NaN });
      }
    }
    for (const lf of lfCfg) {
      rmSync(lf.out, { recursive: true, force: true }); // LLaMA-Factory refuses an output folder that is not empty
      const r = lfRun(lf.cfg);
      if (r.status !== 0) throw new Error(`${lf.name}: failed (${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`);
      if (Number.isNaN(lf.perRow)) {
        // Real tokens per packed row (attention_mask non-zero: neat_packing numbers the examples 1, 2, ...)
        // over all its rows, times the rows trained: the Trainer's own count would sum neat_packing's numbers.
        lf.perRow = Number(sh(lfPython, ['-c', `
import sys, datasets
ds = datasets.load_from_disk(sys.argv[1])
ds = ds["train"] if isinstance(ds, datasets.DatasetDict) else ds
print(sum(sum(1 for m in row if m != 0) for row in ds["attention_mask"]) / len(ds))
`, lf.tokenized]).trim().split('\n').pop());
      }
      const res = JSON.parse(readFileSync(join(lf.out, 'train_results.json'), 'utf8')) as { train_runtime: number };
      add(lf.name, { tps: (lf.perRow * STEPS * BATCH) / res.train_runtime, pad: NaN, s: res.train_runtime });
    }
  }
  if (!lfOn) console.log(process.env.BENCH_PACK_LF === '0' ? 'LLaMA-Factory: skipped (BENCH_PACK_LF=0)' : `LLaMA-Factory: ${LF_VENV} absent (bench/train.ts creates it): not run`);

  const med = (name: string) => median(runs.get(name)!.map((r) => r.tps));
  const base = med('flow unpacked');
  for (const [name, rs] of runs) {
    const pad = rs[0]!.pad;
    console.log(`${name.padEnd(28)} median ${med(name).toFixed(0).padStart(6)} real tokens/s  ${(med(name) / base).toFixed(2)}x unpacked  ` +
      `padding ${Number.isNaN(pad) ? '   n/a' : `${(100 * pad).toFixed(1).padStart(5)}%`}  runs ${rs.map((r) => `${r.tps.toFixed(0)} (${r.s.toFixed(1)} s)`).join(', ')}`);
  }
  const packed = med('flow packed');
  const vs = (name: string, goal: string) => (runs.has(name) ? `; flow packed / ${name}: ${(packed / med(name)).toFixed(2)}x${goal}` : '');
  console.log(`flow packed / flow unpacked: ${(packed / base).toFixed(2)}x (goal >= 2x)` +
    vs('LLaMA-Factory packing', ' (goal >= 1.5x)') + vs('LLaMA-Factory neat_packing', ''));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
