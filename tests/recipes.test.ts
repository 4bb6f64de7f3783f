// Every shipped recipe is valid, and the GPU-only ones stop at plan time on a
// machine without CUDA with a message naming the step and the option.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, sandbox } from './engine/cli.js';

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
    expect(r.stderr).toMatch(/^error: .*recipes\/qwen3-full-tp\.yml:\d+:\d+: steps\.predict: python:predict: engine: vllm needs a CUDA GPU/);
  });
});
