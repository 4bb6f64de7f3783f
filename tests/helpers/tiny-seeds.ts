// The seed recipes on tiny models of their own architecture, through the real CLI: shared by
// tests/seed-recipes.test.ts (a few steps, a few dev items) and bench/seeds.ts (longer, all items).
//
// A seed recipe is run as written, with only its size knobs turned down in a copy: training
// steps and sequence lengths, predict's item count and new tokens, and a free launcher port.
// Its step graph, templates, LoRA / QLoRA / DeepSpeed / AutoTP settings, decoding, clean-up and
// evaluation options stay. The model comes from `python:init-model` (no download) and goes in
// with `--set model=...`, the data is the shipped Spider subset (`--set spider=...`), and
// multi-rank recipes run with `--set gpus=2` (CPU ranks over gloo). One deliberate change:
// vLLM predict (qwen3-full-tp) needs CUDA, so the copy predicts with HF generate instead.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { parse, stringify } from 'yaml';
import type { EngineEvent } from '../../src/events.js';

/** The repository root, from tests/helpers/ or (compiled for the bench) dist/tests/helpers/. */
export const ROOT = [resolve(import.meta.dirname, '../..'), resolve(import.meta.dirname, '../../..')]
  .find((d) => existsSync(join(d, 'package.json')))!;
const FLOW = join(ROOT, 'bin', 'flow.js');
export const SPIDER_MINI = join(ROOT, 'data', 'spider-mini');

export type Arch = 'qwen2' | 'qwen3' | 'llama' | 't5';

/** Each seed recipe, the init-model family of its real model, and its rank count on CPU. */
export const SEEDS: Record<string, { arch: Arch; gpus?: number }> = {
  'qwen25-qlora': { arch: 'qwen2' },
  'codellama-13b-lora': { arch: 'llama' },
  'qwen3-lora': { arch: 'qwen3', gpus: 2 },
  'qwen3-full': { arch: 'qwen3', gpus: 2 },
  'qwen3-full-tp': { arch: 'qwen3', gpus: 2 },
  't5-small': { arch: 't5' },
  't5-small-qlora': { arch: 't5' },
};

export interface TinySize {
  /** Optimizer steps (the recipe's epochs give way to max_steps). */
  steps: number;
  /** Predict only the first N dev items (0 = all); the rest count as wrong in EX. */
  limit: number;
  maxNewTokens: number;
  sourceLength: number;
  targetLength: number;
}

export interface TinyModelSize {
  hidden: number;
  intermediate: number;
  vocab: number;
}

export interface FlowRun {
  code: number;
  stdout: string;
  stderr: string;
  events: EngineEvent[];
}

export async function flow(args: string[], o: { cwd: string; cache: string; python: string }): Promise<FlowRun> {
  const r = await execa(process.execPath, [FLOW, ...args, '--cache-dir', o.cache], {
    cwd: o.cwd, reject: false, env: { NO_COLOR: '1', FLOW_PYTHON: o.python },
  });
  const events = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as EngineEvent);
  return { code: r.exitCode ?? 1, stdout: r.stdout, stderr: r.stderr, events };
}

/** A step's result in a run: run now, or reused from the cache (an eval whose predictions came
 * out byte-identical to another recipe's is cached: same key, same result). */
export function doneStep(events: EngineEvent[], step: string) {
  return events.find((e) => (e.type === 'step-done' || e.type === 'step-cached') && e.step === step) as
    | { outputs: Record<string, string>; metrics?: Record<string, unknown> }
    | undefined;
}

/** Status of each step of a run, from its events. */
export function stepStatuses(events: EngineEvent[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of events) {
    if (e.type === 'step-done') out[e.step] = 'done';
    else if (e.type === 'step-cached') out[e.step] = 'cached';
    else if (e.type === 'step-failed') out[e.step] = 'failed';
  }
  return out;
}

/** Each failed step's error and the last lines of its log, for a message. */
export function failures(events: EngineEvent[]): string {
  return events.filter((e) => e.type === 'step-failed').map((e) => {
    const f = e as { step: string; error: string };
    return `${f.step}: ${f.error}\n${stepLog(events, f.step).split('\n').slice(-15).join('\n')}`;
  }).join('\n');
}

/** A step's log lines in a run (the engine streams them as step-log events). */
export function stepLog(events: EngineEvent[], step: string): string {
  return events.filter((e) => e.type === 'step-log' && e.step === step).map((e) => (e as { line: string }).line).join('\n');
}

/** One recipe building the tiny models of the given families from the Spider subset's training text. */
export function tinyModelsRecipe(archs: Arch[], m: TinyModelSize): string {
  const steps: Record<string, unknown> = {
    data: { uses: 'spider-sft', with: { spider: SPIDER_MINI, schema_format: 'dbgpt-hub' } },
  };
  for (const arch of archs) {
    steps[arch] = {
      uses: 'python:init-model',
      with: {
        train_file: '${steps.data.outputs.train}', arch, vocab_size: m.vocab, hidden_size: m.hidden,
        intermediate_size: m.intermediate, layers: 2, heads: 4,
      },
    };
  }
  return stringify({ name: 'tiny-models', description: 'tiny models of the seed recipes\' families', steps });
}

/** Builds the tiny models; returns each family's model folder. */
export async function buildTinyModels(archs: Arch[], m: TinyModelSize, o: { dir: string; cache: string; python: string }): Promise<Record<string, string>> {
  const file = join(o.dir, 'tiny-models.yml');
  writeFileSync(file, tinyModelsRecipe(archs, m));
  const r = await flow(['run', file, '--ui', 'json'], { cwd: o.dir, cache: o.cache, python: o.python });
  if (r.code !== 0) throw new Error(`tiny models: flow run exited ${r.code}\n${r.stderr.slice(-3000)}`);
  return Object.fromEntries(archs.map((a) => [a, doneStep(r.events, a)?.outputs.model ?? '']));
}

type Step = { uses?: string; with?: Record<string, unknown> };

/** The seed recipe's text with its size knobs turned down (see the header). */
export function tinyVariant(seedText: string, size: TinySize, port: number): string {
  const recipe = parse(seedText) as { python?: unknown; steps: Record<string, Step> };
  delete recipe.python; // the GPU extra (vLLM) is for the real run
  for (const step of Object.values(recipe.steps)) {
    const w = step.with;
    if (!w) continue;
    if (step.uses === 'python:sft') {
      Object.assign(w, {
        max_steps: size.steps, max_source_length: size.sourceLength, max_target_length: size.targetLength,
        logging_steps: 1, save_steps: 100_000,
      });
      if (w.launcher) (w.launcher as Record<string, unknown>).master_port = port;
    }
    if (step.uses === 'python:predict') {
      Object.assign(w, { limit: size.limit, max_new_tokens: size.maxNewTokens, max_source_length: size.sourceLength });
      if (w.engine === 'vllm') {
        delete w.engine;
        delete w.tp;
      }
    }
  }
  return stringify(recipe);
}

export interface SeedResult {
  run: FlowRun;
  steps: Record<string, string>;
  /** sql-eval's metrics file of the `eval` step. */
  eval?: { ex: Record<string, number>; em: Record<string, number>; count: Record<string, number>; plug_value: boolean; rouge: Record<string, number> };
}

/** Runs one seed recipe's tiny variant against a tiny model. */
export async function runSeed(
  seed: string, model: string, size: TinySize, o: { dir: string; cache: string; python: string },
): Promise<SeedResult> {
  const text = readFileSync(join(ROOT, 'recipes', `${seed}.yml`), 'utf8');
  const dir = join(o.dir, seed);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${seed}.yml`);
  writeFileSync(file, tinyVariant(text, size, 20000 + Math.floor(Math.random() * 20000)));
  const sets = ['--set', `model=${model}`, '--set', `spider=${SPIDER_MINI}`];
  const gpus = SEEDS[seed]?.gpus;
  if (gpus) sets.push('--set', `gpus=${gpus}`);
  const run = await flow(['run', file, '--ui', 'json', ...sets], { cwd: dir, cache: o.cache, python: o.python });
  const evalDone = doneStep(run.events, 'eval');
  const metricsFile = evalDone?.outputs.metrics;
  return {
    run,
    steps: stepStatuses(run.events),
    eval: metricsFile ? JSON.parse(readFileSync(metricsFile, 'utf8')) : undefined,
  };
}

/**
 * A tiny model trained for `steps` steps with a checkpoint every 2, each checkpoint predicted and
 * scored on the validation split (sql-eval): the recipe the per-checkpoint and tracker tests
 * share. `head` goes before `steps:` (report_to:), `train` into the train step's `with:`, `tail`
 * after the last step.
 */
export function checkpointRecipe(o: { name: string; steps: number; head?: string; train?: string; tail?: string }): string {
  return `name: ${o.name}
params:
  spider: ${SPIDER_MINI}
  steps: ${o.steps}
${o.head ?? ''}steps:
  data:
    uses: spider-sft
    with:
      spider: \${params.spider}
      validation_databases: 1
  model:
    uses: python:init-model
    with:
      train_file: \${steps.data.outputs.train}
      arch: qwen2
      vocab_size: 400
      hidden_size: 32
      intermediate_size: 64
      layers: 1
      heads: 2
  train:
    uses: python:sft
    with:
      model: \${steps.model.outputs.model}
      train_file: \${steps.data.outputs.train}
      max_steps: \${params.steps}
      save_steps: 2
      save_checkpoints: true
      scheduler: constant
      learning_rate: 0.01
      max_source_length: 96
      max_target_length: 24
      batch_size: 2
      logging_steps: 1
${o.train ?? ''}  predict_val:
    uses: python:predict
    with:
      model: \${steps.model.outputs.model}
      adapter: \${steps.train.outputs.checkpoint}
      dev_file: \${steps.data.outputs.validation}
      max_source_length: 96
      max_new_tokens: 4
      limit: 2
  eval_val:
    uses: sql-eval
    with:
      predictions: \${steps.predict_val.outputs.predictions}
      gold: \${steps.data.outputs.validation_gold}
      db_dir: \${params.spider}/database
      tables: \${params.spider}/tables.json
      workers: 1
${o.tail ?? ''}`;
}
