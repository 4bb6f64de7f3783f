// Training throughput: `python:sft` (LoRA) against LLaMA-Factory's trainer (`llamafactory-cli
// train`, stage sft) on the same tiny model, the same token ids and the same LoRA, optimizer and
// machine settings, alternated runs in this one bench, on the CPU. Prints each run, the medians of
// tokens/s of each and the ratio of the medians (goal >= 1.0x), beside the settings.
//
// Equal terms:
// - the same token ids: the records are tokenized once, by python:tokenize (the `qwen` template,
//   DB-GPT-Hub's prompt), and both trainers read those ids (flow: `tokenized:`; LLaMA-Factory: the
//   same ids saved as a datasets folder and given as its `tokenized_path`, which skips its own
//   tokenizer: transformers 5.6 in its env and 5.23 in flow's split digits differently for the tiny
//   tokenizer). The bench reads LLaMA-Factory's copy back and checks that it equals flow's;
// - gradient checkpointing off on both sides (LLaMA-Factory turns it on by default:
//   disable_gradient_checkpointing: true), fp32 on both, no eval, no checkpoint;
// - BENCH_THREADS torch threads on both (OMP_NUM_THREADS / MKL_NUM_THREADS), set and printed;
// - BENCH_TRAIN_RUNS runs of each, alternated (flow, LLaMA-Factory, flow, ...), medians compared.
// Tokens are the real (non-pad) ones, counted once from the ids, divided by each trainer's own
// training time (flow: its `train_seconds`; LLaMA-Factory: the Trainer's `train_runtime`).
//
// LLaMA-Factory (0.9.5) lives in bench/.venv-llamafactory (git-ignored; bench/llamafactory.ts creates it).
//
//   node dist/bench/train.js          (BENCH_TRAIN_RECORDS=256 BENCH_TRAIN_RUNS=3 BENCH_THREADS=1)
// FLOW_PYTHON names flow's interpreter; else flow's managed env is built.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ensurePythonEnv } from '../src/python/env.js';
import { doneStep, failures, flow, ROOT, SPIDER_MINI } from '../tests/helpers/tiny-seeds.js';
import { LF_LAUNCH, LF_VERSION, llamaFactoryVenv, sh, writeLoraConfig } from './llamafactory.js';

const RECORDS = Number(process.env.BENCH_TRAIN_RECORDS ?? 256);
const LORA = { rank: 8, alpha: 16, dropout: 0, target_modules: ['q_proj', 'v_proj'] };
const SOURCE = 1024;
const TARGET = 256;
const BATCH = 4;
const RUNS = Number(process.env.BENCH_TRAIN_RUNS ?? 3);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const THREAD_ENV = { OMP_NUM_THREADS: String(THREADS), MKL_NUM_THREADS: String(THREADS) };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const python = (await ensurePythonEnv({
  root: ROOT, cacheDir: resolve(process.env.FLOW_CACHE ?? join(ROOT, 'cache')),
  interpreter: process.env.FLOW_PYTHON || undefined, log: (l) => console.error(`[python env] ${l}`),
})).python;
const lfPython = join(dirname(llamaFactoryVenv()), 'python');
const dir = mkdtempSync(join(tmpdir(), 'flow-bench-train-'));
const o = { cwd: dir, cache: join(dir, 'cache'), python };

try {
  // 1. Data and the tiny model (the quickstart's), through flow.
  const setup = join(dir, 'setup.yml');
  writeFileSync(setup, stringify({
    name: 'bench-train-setup',
    steps: {
      data: { uses: 'spider-sft', with: { spider: SPIDER_MINI, schema_format: 'dbgpt-hub' } },
      model: {
        uses: 'python:init-model',
        with: { train_file: '${steps.data.outputs.train}', arch: 'qwen2', vocab_size: 2000, hidden_size: 128, intermediate_size: 352, layers: 2, heads: 4 },
      },
    },
  }));
  const s = await flow(['run', setup, '--ui', 'json'], o);
  if (s.code !== 0) throw new Error(`setup failed\n${s.stderr}\n${failures(s.events)}`);
  const model = doneStep(s.events, 'model')!.outputs.model!;
  const records = (JSON.parse(readFileSync(doneStep(s.events, 'data')!.outputs.train!, 'utf8')) as unknown[]).slice(0, RECORDS);
  const trainFile = join(dir, 'train.json');
  writeFileSync(trainFile, JSON.stringify(records));

  // 2. The token ids, once: python:tokenize, its parquet read by both trainers.
  const tokRecipe = join(dir, 'tokenize.yml');
  writeFileSync(tokRecipe, stringify({
    name: 'bench-train-tokenize',
    steps: { tok: { uses: 'python:tokenize', with: { model, train_file: trainFile, template: 'qwen', max_source_length: SOURCE, max_target_length: TARGET } } },
  }));
  const t = await flow(['run', tokRecipe, '--ui', 'json'], o);
  if (t.code !== 0) throw new Error(`tokenize failed\n${t.stderr}\n${failures(t.events)}`);
  const tokenized = doneStep(t.events, 'tok')!.outputs.dataset!;
  const lfTokenized = join(dir, 'lf-tokenized');
  // LLaMA-Factory's tokenized_path: a datasets folder with input_ids, attention_mask and labels.
  const check = JSON.parse(sh(lfPython, ['-c', `
import json, sys, datasets, pyarrow.parquet as pq
cols = pq.read_table(sys.argv[1] + "/train.parquet").to_pydict()
ds = datasets.Dataset.from_dict({"input_ids": cols["input_ids"], "attention_mask": [[1] * len(i) for i in cols["input_ids"]], "labels": cols["labels"]})
ds.save_to_disk(sys.argv[2])
back = datasets.load_from_disk(sys.argv[2])
same = back["input_ids"] == cols["input_ids"] and back["labels"] == cols["labels"]
print(json.dumps({"same": same, "records": len(cols["input_ids"]), "tokens": sum(map(len, cols["input_ids"])), "max": max(map(len, cols["input_ids"]))}))
`, tokenized, lfTokenized]).trim().split('\n').pop()!) as { same: boolean; records: number; tokens: number; max: number };
  if (!check.same) throw new Error('LLaMA-Factory\'s copy of the token ids differs from flow\'s');
  if (check.records !== records.length || check.max >= SOURCE + TARGET) throw new Error(`records dropped or cut: ${JSON.stringify(check)}`);

  // 3. The two trainers' settings.
  const flowRecipe = join(dir, 'flow-train.yml');
  writeFileSync(flowRecipe, stringify({
    name: 'bench-train-flow',
    steps: {
      train: {
        uses: 'python:sft',
        env: THREAD_ENV,
        with: {
          model, tokenized, finetuning: 'lora', lora: LORA, epochs: 1, batch_size: BATCH, gradient_checkpointing: false,
          learning_rate: 0.0001, scheduler: 'cosine', seed: 42, logging_steps: 10, save_steps: 100_000, load_check: false,
        },
      },
    },
  }));
  const data = join(dir, 'lf-data');
  mkdirSync(data);
  writeFileSync(join(data, 'train.json'), JSON.stringify(records));
  writeFileSync(join(data, 'dataset_info.json'), JSON.stringify({
    spider: { file_name: 'train.json', columns: { prompt: 'instruction', query: 'input', response: 'output' } },
  }));
  const out = join(dir, 'lf-out');
  const cfg = join(dir, 'lf-train.yaml');
  writeLoraConfig(cfg, { model, dataDir: data, tokenized: lfTokenized, out, cutoff: SOURCE + TARGET, batch: BATCH, lora: LORA }, {
    logging_steps: 10, num_train_epochs: 1, lr_scheduler_type: 'cosine',
  });

  // 4. Alternated runs (flow's with --force: its result would otherwise come from the cache).
  const flowRuns: Array<{ s: number; loss: number }> = [];
  const lfRuns: Array<{ s: number; loss: number }> = [];
  for (let i = 0; i < RUNS; i++) {
    const f = await flow(['run', flowRecipe, '--ui', 'json', '--force', 'train'], o);
    if (f.code !== 0) throw new Error(`flow train failed\n${f.stderr}\n${failures(f.events)}`);
    const m = JSON.parse(readFileSync(doneStep(f.events, 'train')!.outputs.metrics!, 'utf8')) as { train_seconds: number; train_loss: number };
    flowRuns.push({ s: m.train_seconds, loss: m.train_loss });
    rmSync(out, { recursive: true, force: true }); // LLaMA-Factory refuses an output folder that is not empty
    sh(lfPython, ['-c', LF_LAUNCH, cfg], { cwd: dir, env: { ...THREAD_ENV, HF_HUB_OFFLINE: '1', DISABLE_VERSION_CHECK: '1', TOKENIZERS_PARALLELISM: 'false', CUDA_VISIBLE_DEVICES: '' } });
    const lf = JSON.parse(readFileSync(join(out, 'train_results.json'), 'utf8')) as { train_runtime: number; train_loss: number };
    lfRuns.push({ s: lf.train_runtime, loss: lf.train_loss });
  }

  console.log(`LoRA SFT on a tiny Qwen2 model (hidden 128, 2 layers), ${records.length} Spider records, ${check.tokens} tokens ` +
    `(the same ids on both sides: checked), batch ${BATCH}, 1 epoch, fp32, gradient checkpointing off on both, ` +
    `torch threads ${THREADS} on both, ${RUNS} alternated runs each, CPU; the machine is shared and loaded (other jobs on 2 cores)`);
  const show = (name: string, runs: Array<{ s: number; loss: number }>) =>
    console.log(`${name.padEnd(22)} runs ${runs.map((r) => `${r.s.toFixed(1)} s`).join(', ')}; median ${(check.tokens / median(runs.map((r) => r.s))).toFixed(0)} tokens/s; ` +
      `train loss ${runs.map((r) => r.loss.toFixed(4)).join(', ')}`);
  show('flow python:sft', flowRuns);
  show(`LLaMA-Factory ${LF_VERSION}`, lfRuns);
  console.log(`ratio of medians flow / LLaMA-Factory: ${(median(lfRuns.map((r) => r.s)) / median(flowRuns.map((r) => r.s))).toFixed(2)}x (goal >= 1.0x)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
