// Plan-time checks of the model folders a Python step is given (its manifest's
// `models`): a transformers model folder holds a config.json and weights, a PEFT
// adapter folder an adapter_config.json and its weights. Without this, a folder
// holding only config.json passed the plan and failed inside transformers after
// the queue, the env build and the launch.
//
// And the size of what a step trains, counted from config.json alone (no weights
// read): a step that trains a model above its manifest's `cpu_limit` where
// the step's machine has no CUDA is refused unless the user passes --allow-cpu.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PreflightProblem, StepMachine } from '../steps/types.js';
import { getPath } from '../steps/types.js';

export interface ModelField {
  /** Dotted path in `with:`. */
  field: string;
  kind: 'model' | 'adapter';
}

/** Weights transformers and PEFT load: safetensors or PyTorch pickles, whole or sharded (with their index). */
const WEIGHTS = /\.(safetensors|bin)$|\.(safetensors|bin)\.index\.json$/;

/** Why `dir` is not a folder of `kind`, or undefined when it is (or does not exist: the input check reports that). */
export function modelFolderProblem(dir: string, kind: ModelField['kind']): string | undefined {
  let files: string[];
  try {
    if (!statSync(dir).isDirectory()) return `${dir} is a file; expected a ${kind === 'model' ? 'transformers model' : 'PEFT adapter'} folder`;
    files = readdirSync(dir);
  } catch {
    return undefined;
  }
  const config = kind === 'model' ? 'config.json' : 'adapter_config.json';
  const what = kind === 'model' ? 'a transformers model folder' : 'a PEFT adapter folder';
  if (!files.includes(config)) {
    const hint = kind === 'model' && files.includes('adapter_config.json') ? ' (it holds an adapter: give it as `adapter` with its base model as `model`)' : '';
    return `${dir} is not ${what}: no ${config}${hint}`;
  }
  const weights = files.filter((f) => WEIGHTS.test(f) && (kind === 'adapter' ? f.startsWith('adapter_model') : !f.startsWith('adapter_model')));
  if (!weights.length) {
    const want = kind === 'model' ? 'model.safetensors, pytorch_model.bin or their shards' : 'adapter_model.safetensors or adapter_model.bin';
    return `${dir} is not ${what}: ${config} but no weights (${want})`;
  }
  return undefined;
}

type Config = Record<string, unknown>;

function num(c: Config, ...names: string[]): number | undefined {
  for (const n of names) if (typeof c[n] === 'number') return c[n] as number;
  return undefined;
}

/**
 * Parameters of a decoder-only or encoder-decoder transformer from its config.json: embeddings
 * plus, per layer, attention (q, k, v, o with grouped-query heads) and the MLP (gated: three
 * matrices; T5's non-gated: two). Norms and biases (under 0.1%) are left out. Undefined when the
 * config lacks the sizes. Checked against published counts in tests/python-model-folder.test.ts.
 */
export function estimateParams(config: Config): number | undefined {
  const c = typeof config.text_config === 'object' && config.text_config ? { ...config, ...(config.text_config as Config) } : config;
  const hidden = num(c, 'hidden_size', 'd_model', 'n_embd');
  const vocab = num(c, 'vocab_size');
  const heads = num(c, 'num_attention_heads', 'num_heads', 'n_head');
  if (!hidden || !vocab || !heads) return undefined;
  const headDim = num(c, 'head_dim', 'd_kv') ?? hidden / heads;
  const kvHeads = num(c, 'num_key_value_heads') ?? heads;
  const ff = num(c, 'intermediate_size', 'd_ff', 'n_inner') ?? 4 * hidden;
  const attention = 2 * hidden * heads * headDim + 2 * hidden * kvHeads * headDim;
  const gated = c.model_type === 't5' ? String(c.feed_forward_proj ?? '').startsWith('gated') : !['gpt2', 'gpt_neox', 'bloom', 'opt'].includes(String(c.model_type));
  const mlp = (gated ? 3 : 2) * hidden * ff;
  const embeddings = vocab * hidden * (c.tie_word_embeddings === false ? 2 : 1);
  if (c.is_encoder_decoder) {
    const enc = num(c, 'num_layers', 'encoder_layers') ?? 0;
    const dec = num(c, 'num_decoder_layers', 'decoder_layers') ?? enc;
    // A decoder layer has cross-attention too.
    return embeddings + enc * (attention + mlp) + dec * (2 * attention + mlp);
  }
  const layers = num(c, 'num_hidden_layers', 'num_layers', 'n_layer');
  if (!layers) return undefined;
  return embeddings + layers * (attention + mlp);
}

/** The estimate for a model folder's config.json, or undefined when there is none to read. */
export function folderParams(dir: string): number | undefined {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) return undefined;
  try {
    return estimateParams(JSON.parse(readFileSync(file, 'utf8')) as Config);
  } catch {
    return undefined;
  }
}

/** 7.6e9 -> "7.6B", 494e6 -> "494M". */
export function paramText(n: number): string {
  return n >= 1e9 ? `${(n / 1e9).toFixed(1)}B` : `${Math.round(n / 1e6)}M`;
}

/** Plan-time problems of the model folders a step is given: not a model (or adapter) folder, or a
 * model too large to train where the step's machine has no CUDA (unless --allow-cpu). */
export function modelPreflight(name: string, m: { models?: ModelField[]; cpu_limit?: { field: string; params: number; why: string } }, w: Record<string, unknown>, machine: StepMachine): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  for (const { field, kind } of m.models ?? []) {
    const dir = getPath(w, field);
    if (typeof dir !== 'string' || dir === '') continue;
    const why = modelFolderProblem(dir, kind);
    if (why) problems.push({ field, message: `${name}: ${why}` });
  }
  const limit = m.cpu_limit;
  const dir = limit && getPath(w, limit.field);
  if (limit && typeof dir === 'string' && !machine.cuda && !machine.allowCpu) {
    const n = folderParams(dir);
    if (n !== undefined && n > limit.params) {
      problems.push({
        field: limit.field,
        message: `${name}: ${limit.field}: a ${paramText(n)}-parameter model (config.json), above the ${paramText(limit.params)} flow runs without a GPU: ` +
          `${limit.why}, and ${machine.noGpu}; pass --allow-cpu to run it anyway`,
      });
    }
  }
  return problems;
}
