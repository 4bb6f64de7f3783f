// The tiny-model EX of each seed recipe: every recipe under recipes/ that names an anchor runs end
// to end on the CPU (tests/helpers/tiny-seeds.ts: its own step graph, template, LoRA / QLoRA /
// DeepSpeed / AutoTP settings, decoding, clean-up and eval options; size knobs turned down) on a
// tiny model of its real model's family, over the whole Spider subset dev set (75 items on 2 held-out databases).
// Prints EX / EM (and ROUGE-L) per recipe with its training time and final loss.
//
// The figures say that each path trains, saves, reloads, predicts and scores for real; they are
// not a model-quality measure: the models are ~1M-parameter random inits and the recipes keep
// their real-model learning rates (qwen3-full's 1e-5 barely moves a random model).
//
//   node dist/bench/seeds.js                      (BENCH_SEEDS_STEPS=60, all seeds)
//   BENCH_SEEDS=codellama-13b-lora,t5-small BENCH_SEEDS_STEPS=200 node dist/bench/seeds.js
// FLOW_PYTHON names an interpreter with the steps' requirements; else the managed env is built.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensurePythonEnv } from '../src/python/env.js';
import { buildTinyModels, doneStep, failures, ROOT, runSeed, SEEDS, type Arch } from '../tests/helpers/tiny-seeds.js';

const steps = Number(process.env.BENCH_SEEDS_STEPS ?? 60);
const seeds = (process.env.BENCH_SEEDS ?? Object.keys(SEEDS).join(',')).split(',').filter(Boolean);
for (const s of seeds) if (!SEEDS[s]) throw new Error(`BENCH_SEEDS: unknown seed ${s} (known: ${Object.keys(SEEDS).join(', ')})`);

const python = (await ensurePythonEnv({
  root: ROOT, cacheDir: resolve(process.env.FLOW_CACHE ?? join(ROOT, 'cache')),
  interpreter: process.env.FLOW_PYTHON || undefined, log: (l) => console.error(`[python env] ${l}`),
})).python;
const dir = mkdtempSync(join(tmpdir(), 'flow-bench-seeds-'));
const cache = join(dir, 'cache');
const o = { dir, cache, python };

try {
  const archs = [...new Set(seeds.map((s) => SEEDS[s]!.arch))] as Arch[];
  // The quickstart's model size: big enough to learn something in a few hundred steps.
  const models = await buildTinyModels(archs, { hidden: 128, intermediate: 352, vocab: 2000 }, o);
  const size = { steps, limit: 0, maxNewTokens: 64, sourceLength: 256, targetLength: 64 };
  console.log(`seed recipes on tiny models (hidden 128, 2 layers, vocab 2000), ${steps} steps, Spider subset dev (75 items, held-out databases), CPU`);
  console.log('recipe               | family | train s | final loss | EX all | EM all | ROUGE-L');
  for (const seed of seeds) {
    const t0 = Date.now();
    const r = await runSeed(seed, models[SEEDS[seed]!.arch]!, size, o);
    const wall = ((Date.now() - t0) / 1000).toFixed(0);
    if (r.run.code !== 0 || !r.eval) {
      console.log(`${seed.padEnd(20)} | FAILED (exit ${r.run.code}): ${r.run.stderr.trim()}\n${failures(r.run.events)}`);
      continue;
    }
    const train = JSON.parse(readFileSync(doneStep(r.run.events, 'train')!.outputs.metrics!, 'utf8')) as { train_seconds: number; final_loss: number };
    const f = (v: number | undefined) => (v === undefined ? '  -  ' : v.toFixed(3));
    console.log(`${seed.padEnd(20)} | ${SEEDS[seed]!.arch.padEnd(6)} | ${String(train.train_seconds).padStart(7)} | ${train.final_loss.toFixed(3).padStart(10)} | ${f(r.eval.ex?.all).padStart(6)} | ${f(r.eval.em?.all).padStart(6)} | ${f(r.eval.rouge?.rougeL).padStart(7)}   (run ${wall}s)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
