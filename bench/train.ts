// Training throughput: `python:sft` (LoRA) against LLaMA-Factory's trainer (`llamafactory-cli
// train`, stage sft) on the same tiny model, the same records and the same LoRA and optimizer
// settings, both in this run, on the CPU. Prints tokens/s of each and the ratio (goal >= 1.0x).
//
// Same work on both sides: the Spider subset's first BENCH_TRAIN_RECORDS training records
// (DB-GPT-Hub's prompt, the `qwen` template, which renders token-identical in both: see
// tests/python-templates.test.ts), lengths set so that no record is cut, one epoch, batch 4,
// LoRA r8 / alpha 16 / dropout 0 on q_proj,v_proj, lr 1e-4 cosine, fp32, seed 42, no eval, no
// checkpoint. Tokens are counted once, with flow's encoding (prompt + response + EOS), and
// divided by each trainer's own training time (flow: its `train_seconds`; LLaMA-Factory: the
// Trainer's `train_runtime`), so the ratio is the inverse ratio of the training times.
//
// LLaMA-Factory (0.9.5; it pins transformers <= 5.6, so it cannot share flow's env) lives in
// bench/.venv-llamafactory (git-ignored), which this bench creates from PyPI on first use (torch
// from the local CPU wheel: `torch==2.13.0`, never a bare torch, which would pull CUDA). Its
// dataset and config are written to a temp folder at bench time.
//
//   node dist/bench/train.js          (BENCH_TRAIN_RECORDS=256)
// FLOW_PYTHON names flow's interpreter; else flow's managed env is built.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { ensurePythonEnv } from '../src/python/env.js';
import { doneStep, failures, flow, ROOT, SPIDER_MINI } from '../tests/helpers/tiny-seeds.js';

const RECORDS = Number(process.env.BENCH_TRAIN_RECORDS ?? 256);
const LF_VERSION = '0.9.5';
const VENV = join(ROOT, 'bench', '.venv-llamafactory');
const LORA = { rank: 8, alpha: 16, dropout: 0, target_modules: ['q_proj', 'v_proj'] };
const SOURCE = 1024;
const TARGET = 256;
const BATCH = 4;

function sh(file: string, args: string[], o: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(file, args, { cwd: o.cwd, env: { ...process.env, ...o.env }, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}\n${(r.stderr ?? '').slice(-4000)}`);
  return r.stdout;
}

/** `llamafactory-cli train CONFIG`, with an empty torchaudio module: LLaMA-Factory's multimodal
 * plugin imports torchaudio at start-up, and no torchaudio wheel loads beside torch 2.13's CPU
 * build. Text SFT never calls it. */
const LF_LAUNCH = `
import importlib.machinery, sys, types
stub = types.ModuleType("torchaudio")
stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
sys.modules["torchaudio"] = stub
from llamafactory.cli import main
sys.argv = ["llamafactory-cli", "train", sys.argv[1]]
main()
`;

function llamaFactoryVenv(): string {
  const cli = join(VENV, 'bin', 'llamafactory-cli');
  if (existsSync(cli)) return cli;
  console.error(`creating ${VENV} (llamafactory==${LF_VERSION} from PyPI)`);
  sh('python3', ['-m', 'venv', VENV]);
  sh(join(VENV, 'bin', 'pip'), ['install', '--no-input', 'torch==2.13.0', `llamafactory==${LF_VERSION}`]);
  // PyPI's torchvision / torchaudio wheels are built against the CUDA torch (and torchaudio's
  // newest, 2.11, against torch 2.11): beside the CPU wheel they fail to load and break
  // transformers' imports. Text SFT needs neither; see LF_LAUNCH for torchaudio.
  sh(join(VENV, 'bin', 'pip'), ['uninstall', '--yes', 'torchvision', 'torchaudio']);
  return cli;
}

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

  // 2. Tokens, with flow's encoding; nothing may be cut (both sides then see the same tokens).
  const count = JSON.parse(sh(python, ['-c', `
import json, sys
sys.path.insert(0, ${JSON.stringify(join(ROOT, 'python-steps'))})
from prompting import encode_turns
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[1])
turns = [encode_turns(r, "qwen", tok)[-1] for r in json.load(open(sys.argv[2]))]
src = [len(u) for u, a in turns]
tgt = [len(a) for u, a in turns]
print(json.dumps({"tokens": sum(src) + sum(tgt), "max_source": max(src), "max_target": max(tgt)}))
`, model, trainFile]).trim().split('\n').pop()!) as { tokens: number; max_source: number; max_target: number };
  if (count.max_source > SOURCE || count.max_target > TARGET) throw new Error(`a record is longer than the bench's limits: ${JSON.stringify(count)}`);

  // 3. flow: python:sft.
  const flowRecipe = join(dir, 'flow-train.yml');
  writeFileSync(flowRecipe, stringify({
    name: 'bench-train-flow',
    steps: {
      train: {
        uses: 'python:sft',
        with: {
          model, train_file: trainFile, finetuning: 'lora', lora: LORA, template: 'qwen',
          max_source_length: SOURCE, max_target_length: TARGET, epochs: 1, batch_size: BATCH,
          learning_rate: 0.0001, scheduler: 'cosine', seed: 42, logging_steps: 10, save_steps: 100_000,
        },
      },
    },
  }));
  const f = await flow(['run', flowRecipe, '--ui', 'json'], o);
  if (f.code !== 0) throw new Error(`flow train failed\n${f.stderr}\n${failures(f.events)}`);
  const flowMetrics = JSON.parse(readFileSync(doneStep(f.events, 'train')!.outputs.metrics!, 'utf8')) as { train_seconds: number; steps: number; train_loss: number };

  // 4. LLaMA-Factory: its dataset_info.json and a training config, generated here.
  const data = join(dir, 'lf-data');
  mkdirSync(data);
  writeFileSync(join(data, 'train.json'), JSON.stringify(records));
  writeFileSync(join(data, 'dataset_info.json'), JSON.stringify({
    spider: { file_name: 'train.json', columns: { prompt: 'instruction', query: 'input', response: 'output' } },
  }));
  const out = join(dir, 'lf-out');
  // Every string quoted: LLaMA-Factory reads YAML 1.1, where a bare `no` is false (and its JSON
  // config reader is broken in 0.9.5).
  const cfg = join(dir, 'lf-train.yaml');
  writeFileSync(cfg, stringify({
    model_name_or_path: model, stage: 'sft', do_train: true, finetuning_type: 'lora',
    lora_rank: LORA.rank, lora_alpha: LORA.alpha, lora_dropout: LORA.dropout, lora_target: LORA.target_modules.join(','),
    dataset: 'spider', dataset_dir: data, template: 'qwen', cutoff_len: SOURCE + TARGET, overwrite_cache: true,
    preprocessing_num_workers: 1, dataloader_num_workers: 0, output_dir: out,
    logging_steps: 10, save_strategy: 'no', plot_loss: false, report_to: 'none', disable_tqdm: true,
    per_device_train_batch_size: BATCH, gradient_accumulation_steps: 1, learning_rate: 0.0001,
    num_train_epochs: 1, lr_scheduler_type: 'cosine', seed: 42, val_size: 0,
  }, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' }));
  sh(lfPython, ['-c', LF_LAUNCH, cfg], { cwd: dir, env: { HF_HUB_OFFLINE: '1', DISABLE_VERSION_CHECK: '1', TOKENIZERS_PARALLELISM: 'false', CUDA_VISIBLE_DEVICES: '' } });
  const lf = JSON.parse(readFileSync(join(out, 'train_results.json'), 'utf8')) as { train_runtime: number; train_loss: number };

  const flowTps = count.tokens / flowMetrics.train_seconds;
  const lfTps = count.tokens / lf.train_runtime;
  console.log(`LoRA SFT on a tiny Qwen2 model (hidden 128, 2 layers), ${records.length} Spider records, ${count.tokens} tokens, batch ${BATCH}, 1 epoch, CPU`);
  console.log(`flow python:sft        ${flowMetrics.train_seconds.toFixed(1).padStart(7)} s  ${flowTps.toFixed(0).padStart(7)} tokens/s  train loss ${flowMetrics.train_loss.toFixed(4)}`);
  console.log(`LLaMA-Factory ${LF_VERSION}     ${lf.train_runtime.toFixed(1).padStart(7)} s  ${lfTps.toFixed(0).padStart(7)} tokens/s  train loss ${lf.train_loss.toFixed(4)}`);
  console.log(`ratio flow / LLaMA-Factory: ${(flowTps / lfTps).toFixed(2)}x (goal >= 1.0x)`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
