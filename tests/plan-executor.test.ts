// Executors own "where": the plan judges a step's GPU options on the machine its
// executor will run it on (a Slurm job's node, not the login node flow runs on),
// and `flow plan` takes the options of `flow run` that change the plan, refusing
// bad values as run does (plan, run and run --dry-run alike).

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, sandbox, type Sandbox } from './helpers/cli.js';

// This machine as a login node: no GPU, whatever the host has.
const loginNode = { FLOW_ASSUME_GPU: '0' };

/** A model folder as flow's preflight reads it: Qwen3-1.7B's config and a weights file. */
function modelFolder(s: Sandbox): string {
  const dir = join(s.dir, 'Qwen3-1.7B');
  mkdirSync(dir);
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 2048, intermediate_size: 6144, num_hidden_layers: 28,
    num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, vocab_size: 151936, tie_word_embeddings: true,
  }));
  writeFileSync(join(dir, 'model.safetensors'), '');
  return dir;
}

function tpRecipe(s: Sandbox): string[] {
  return [join(ROOT, 'recipes', 'qwen3-full-tp.yml'), '--set', `model=${modelFolder(s)}`, '--set', `spider=${join(ROOT, 'data', 'spider-mini')}`];
}

describe('the plan asks the step\'s executor where it runs', () => {
  it('qwen3-full-tp with --executor slurm plans on a machine without a GPU (a login node)', async () => {
    const s = sandbox();
    const r = await s.flow(['plan', ...tpRecipe(s), '--executor', 'slurm'], { env: loginNode });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').filter(Boolean).map((l) => l.split(/\s+/)[1])).toEqual(['data', 'train', 'predict', 'eval']);
  });

  it('the same recipe on the local executor is refused for what this machine lacks', async () => {
    const s = sandbox();
    const r = await s.flow(['plan', ...tpRecipe(s)], { env: loginNode });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/steps\.predict\.with\.engine: python:predict: engine: vllm needs a CUDA GPU .*this machine has none/);
  });

  it('a Slurm step that asks for no GPU is refused a GPU-only option, at plan time', async () => {
    const s = sandbox();
    const recipe = s.write('r.yml', `name: r\nexecutor: slurm\nsteps:\n  predict:\n    uses: python:predict\n    with:\n      model: ${modelFolder(s)}\n      dev_file: ${join(ROOT, 'data', 'spider-mini', 'dev.json')}\n      engine: vllm\n`);
    const r = await s.flow(['plan', recipe], { env: loginNode });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: .*r\.yml:9:15: steps\.predict\.with\.engine: python:predict: engine: vllm needs a CUDA GPU \(vLLM serves on CUDA GPUs\), and its Slurm job asks for no GPU \(set resources\.gpus\)$/);
  });
});

describe('flow plan takes the options of flow run that change the plan', () => {
  it.each([['plan'], ['run', '--dry-run'], ['run', '--ui', 'plain']])('an unknown executor is exit 2 for flow %s', async (...cmd) => {
    const s = sandbox();
    const recipe = s.write('r.yml', 'name: r\nsteps:\n  a:\n    run: echo hi > a.txt\n    outputs: { a: a.txt }\n');
    const r = await s.flow([cmd[0]!, recipe, ...cmd.slice(1), '--executor', 'k8s']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('error: --executor k8s: expected one of local, slurm');
    expect(r.stdout).toBe('');
  });

  it.each([['plan'], ['run', '--dry-run']])('--gpus: a step asking for more GPUs than given is exit 2 for flow %s', async (...cmd) => {
    const s = sandbox();
    const recipe = s.write('r.yml', 'name: g\nsteps:\n  big:\n    run: echo\n    resources: { gpus: 4 }\n');
    const r = await s.flow([cmd[0]!, recipe, ...cmd.slice(1), '--gpus', '0,1']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('error: step big asks for 4 GPUs but only 2 are available (--gpus 0,1)');
  });

  it('flow plan --gpus rejects a bad id as run does', async () => {
    const s = sandbox();
    const recipe = s.write('r.yml', 'name: r\nsteps:\n  a:\n    run: echo\n');
    const r = await s.flow(['plan', recipe, '--gpus', 'a']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^error: option '--gpus <ids>' argument 'a' is invalid\. bad GPU id "a"/);
  });
});
