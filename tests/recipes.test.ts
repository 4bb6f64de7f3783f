// Every shipped recipe is valid, and the GPU-only ones stop at plan time on a
// machine without CUDA with a message naming the step and the option.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT, sandbox } from './helpers/cli.js';

const recipes = readdirSync(join(ROOT, 'recipes')).filter((f) => f.endsWith('.yml'));
const cpuOnly = { FLOW_ASSUME_GPU: '0' };

describe('seed recipes', () => {
  it.each(recipes)('%s validates', async (file) => {
    const r = await sandbox().flow(['validate', join(ROOT, 'recipes', file)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  // QLoRA, DeepSpeed ZeRO (its launcher too), AutoTP and bf16 run on CPU: no plan-time refusal.
  // The plan then stops at the inputs this sandbox lacks (the real model and Spider folders).
  it.each(['qwen25-qlora.yml', 'qwen3-lora.yml', 'qwen3-full.yml', 'codellama-13b-lora.yml'])(
    '%s passes the GPU preflight on a machine without CUDA', async (file) => {
      const r = await sandbox().flow(['plan', join(ROOT, 'recipes', file)], { env: cpuOnly });
      expect(r.stderr).not.toMatch(/CUDA/);
      expect(r.stderr).toMatch(new RegExp(`^error: .*recipes/${file}:\\d+:\\d+: steps\\.data\\.with\\.spider: input not found`));
    });

  it('qwen3-full-tp.yml fails at plan time without CUDA for what needs it: vLLM', async () => {
    const r = await sandbox().flow(['plan', join(ROOT, 'recipes', 'qwen3-full-tp.yml')], { env: cpuOnly });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*recipes\/qwen3-full-tp\.yml:\d+:\d+: steps\.predict\.with\.engine: python:predict: engine: vllm needs a CUDA GPU/);
  });
});

// The seed recipes name their anchor and carry its settings (docs/recipes.md, The seed recipes).
describe('seed recipes follow their anchor', () => {
  const steps = (file: string) => parse(readFileSync(join(ROOT, 'recipes', file), 'utf8')).steps;
  const seeds = ['codellama-13b-lora.yml', 'qwen25-qlora.yml', 'qwen3-lora.yml', 'qwen3-full.yml', 'qwen3-full-tp.yml', 't5-small.yml', 't5-small-qlora.yml'];

  it.each(seeds)('%s says which anchor it follows', (file) => {
    expect(readFileSync(join(ROOT, 'recipes', file), 'utf8')).toMatch(/^# Anchor: (DB-GPT-Hub|LLaMA-Factory|none)/m);
  });

  it.each(['codellama-13b-lora.yml', 'qwen25-qlora.yml'])('%s: DB-GPT-Hub\'s LoRA, decoding, clean-up and plug_value', (file) => {
    const s = steps(file);
    expect(s.train.with.lora).toMatchObject({ alpha: 32, dropout: 0.1, target_modules: ['q_proj', 'v_proj'] });
    expect(s.train.with).toMatchObject({ max_source_length: 2048, max_target_length: 512, epochs: 8, batch_size: 1, gradient_accumulation_steps: 16, learning_rate: 0.0002, scheduler: 'cosine_with_restarts' });
    expect(s.predict.with).toMatchObject({ do_sample: true, temperature: 0.95, top_p: 0.7, top_k: 50, max_new_tokens: 512, clean: 'dbgpt-hub' });
    expect(s.eval.with.plug_value).toBe(true);
    expect(s.predict.with.template).toBe(s.train.with.template);
  });

  it.each(['qwen3-lora.yml', 'qwen3-full.yml', 'qwen3-full-tp.yml'])('%s: LLaMA-Factory\'s qwen3 example settings, greedy predict', (file) => {
    const s = steps(file);
    expect(s.train.with).toMatchObject({ template: 'qwen3', epochs: 3, batch_size: 1, gradient_accumulation_steps: 2, scheduler: 'cosine', warmup_ratio: 0.1, bf16: true, gradient_checkpointing: true, logging_steps: 10, save_steps: 500 });
    expect(s.train.with.max_source_length + s.train.with.max_target_length).toBe(2048);
    expect(s.predict.with).toMatchObject({ template: 'qwen3', do_sample: false, clean: 'sql' });
  });
});
