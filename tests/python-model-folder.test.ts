// Model folders at plan time: a config and weights (or an adapter's), and a model
// too large to train on a CPU refused where its step has no GPU unless --allow-cpu.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { estimateParams, modelFolderProblem } from '../src/python/model-folder.js';
import { ROOT, sandbox, type Sandbox } from './helpers/cli.js';
import { tmp } from './helpers/python.js';

// The sizes of each family's config.json on the Hugging Face Hub, and the parameter count its model card states.
const CONFIGS: Array<[string, Record<string, unknown>, number]> = [
  ['Qwen2.5-0.5B', { model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936, tie_word_embeddings: true }, 0.49e9],
  ['Qwen3-1.7B', { model_type: 'qwen3', hidden_size: 2048, intermediate_size: 6144, num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, vocab_size: 151936, tie_word_embeddings: true }, 1.7e9],
  ['Qwen2.5-Coder-7B', { model_type: 'qwen2', hidden_size: 3584, intermediate_size: 18944, num_hidden_layers: 28, num_attention_heads: 28, num_key_value_heads: 4, vocab_size: 152064, tie_word_embeddings: false }, 7.61e9],
  ['CodeLlama-13b', { model_type: 'llama', hidden_size: 5120, intermediate_size: 13824, num_hidden_layers: 40, num_attention_heads: 40, num_key_value_heads: 40, vocab_size: 32016, tie_word_embeddings: false }, 13.0e9],
  ['t5-base', { model_type: 't5', is_encoder_decoder: true, d_model: 768, d_ff: 3072, d_kv: 64, num_heads: 12, num_layers: 12, num_decoder_layers: 12, vocab_size: 32128, feed_forward_proj: 'relu' }, 0.22e9],
];

describe('parameters from config.json', () => {
  it.each(CONFIGS)('%s: within 3%% of its published count', (_name, config, published) => {
    const n = estimateParams(config)!;
    expect(Math.abs(n - published) / published).toBeLessThan(0.03);
  });

  it('says nothing for a config without sizes', () => {
    expect(estimateParams({ model_type: 'mystery' })).toBeUndefined();
  });
});

function folder(files: Record<string, string>): string {
  const dir = tmp('model');
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
  return dir;
}

describe('model and adapter folders', () => {
  it('a model folder needs a config and weights', () => {
    expect(modelFolderProblem(folder({ 'config.json': '{}', 'model.safetensors': '' }), 'model')).toBeUndefined();
    expect(modelFolderProblem(folder({ 'config.json': '{}', 'model-00001-of-00002.safetensors': '', 'model.safetensors.index.json': '{}' }), 'model')).toBeUndefined();
    expect(modelFolderProblem(folder({ 'config.json': '{}', 'pytorch_model.bin': '' }), 'model')).toBeUndefined();
    expect(modelFolderProblem(folder({ 'config.json': '{}' }), 'model')).toMatch(/is not a transformers model folder: config\.json but no weights/);
    expect(modelFolderProblem(folder({ 'model.safetensors': '' }), 'model')).toMatch(/is not a transformers model folder: no config\.json$/);
    expect(modelFolderProblem(folder({ 'adapter_config.json': '{}', 'adapter_model.safetensors': '' }), 'model')).toMatch(/no config\.json \(it holds an adapter/);
  });

  it('an adapter folder needs an adapter config and its weights', () => {
    expect(modelFolderProblem(folder({ 'adapter_config.json': '{}', 'adapter_model.safetensors': '' }), 'adapter')).toBeUndefined();
    expect(modelFolderProblem(folder({ 'adapter_config.json': '{}' }), 'adapter')).toMatch(/is not a PEFT adapter folder: adapter_config\.json but no weights/);
    expect(modelFolderProblem(folder({ 'config.json': '{}', 'model.safetensors': '' }), 'adapter')).toMatch(/no adapter_config\.json/);
  });

  it('a missing path is left to the input check', () => {
    expect(modelFolderProblem('/nonexistent/model', 'model')).toBeUndefined();
  });
});

const cpuOnly = { FLOW_ASSUME_GPU: '0' };

function modelDir(s: Sandbox, name: string, config: Record<string, unknown> | undefined, weights = true): string {
  const dir = join(s.dir, name);
  mkdirSync(dir);
  if (config) writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  if (weights) writeFileSync(join(dir, 'model.safetensors'), '');
  return dir;
}

const recipe = (model: string) => `name: own-model
steps:
  train:
    uses: python:sft
    with:
      model: ${model}
      train_file: ${join(ROOT, 'tests', 'fixtures', 'python', 'train.json')}
      finetuning: qlora
`;

describe('flow plan checks the model folders', () => {
  it('a folder holding only config.json is refused with file:line:col', async () => {
    const s = sandbox();
    const r = await s.flow(['plan', s.write('r.yml', recipe(modelDir(s, 'half', CONFIGS[0]![1], false)))]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`error: r.yml:6:14: steps.train.with.model: python:sft: ${join(s.dir, 'half')} is not a transformers model folder: config.json but no weights (model.safetensors, pytorch_model.bin or their shards)`);
  });

  it('a 7B model is not trained without a GPU unless --allow-cpu; a small one is', async () => {
    const s = sandbox();
    const big = s.write('big.yml', recipe(modelDir(s, 'Qwen2.5-Coder-7B', CONFIGS[2]![1])));
    for (const cmd of [['plan'], ['run', '--dry-run']]) {
      const r = await s.flow([cmd[0]!, big, ...cmd.slice(1)], { env: cpuOnly });
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toMatch(/^error: big\.yml:6:14: steps\.train\.with\.model: python:sft: model: a 7\.6B-parameter model \(config\.json\), above the 1\.0B flow runs without a GPU: .*this machine has none .*; pass --allow-cpu to run it anyway$/);
      const allowed = await s.flow([cmd[0]!, big, ...cmd.slice(1), '--allow-cpu'], { env: cpuOnly });
      expect(allowed.stderr).toBe('');
      expect(allowed.code).toBe(0);
    }
    const small = s.write('small.yml', recipe(modelDir(s, 'Qwen2.5-0.5B', CONFIGS[0]![1])));
    expect((await s.flow(['plan', small], { env: cpuOnly })).code).toBe(0);
    // With a GPU the size is no concern.
    expect((await s.flow(['plan', big], { env: { FLOW_ASSUME_GPU: '1' } })).code).toBe(0);
  });
});
