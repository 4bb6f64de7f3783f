// The plan's preflight through the real CLI: every problem a run would meet before
// anything starts (each missing input, each GPU-only option on a machine without
// CUDA) comes out at once, one line each, naming the field and, where the value
// comes from a param, the --set that changes it. Exit 2, nothing run.

import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sandbox } from './helpers/cli.js';

const cpuOnly = { FLOW_ASSUME_GPU: '0' };

// A training step with a missing model (from a param), missing training data (a literal),
// fp16 (a GPU-only option) from a param, and a shell step with a missing input file.
const RECIPE = `name: preflight
params:
  model: /models/Qwen2.5-Coder-7B-Instruct
  fp16: true
steps:
  train:
    uses: python:sft
    with:
      model: \${params.model}
      train_file: data/train.json
      finetuning: lora
      fp16: \${params.fp16}
  export:
    run: cp notes.txt out.txt
    inputs: [notes.txt]
    outputs: { out: out.txt }
`;

describe('preflight', () => {
  it('reports every missing input and the GPU need in one go, each with the field and how to change it', async () => {
    const s = sandbox();
    const recipe = s.write('r.yml', RECIPE);
    for (const cmd of ['plan', 'run']) {
      const r = await s.flow([cmd, recipe, ...(cmd === 'run' ? ['--ui', 'plain'] : [])], { env: cpuOnly });
      expect(r.code, r.stderr).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines).toEqual([
        expect.stringMatching(/^error: r\.yml:12:13: steps\.train\.with\.fp16: python:sft: fp16: true needs a CUDA GPU .*\(set it with --set fp16=VALUE\)$/),
        expect.stringMatching(/^error: r\.yml:9:14: steps\.train\.with\.model: input not found: \/models\/Qwen2\.5-Coder-7B-Instruct \(set it with --set model=PATH\)$/),
        // A literal path: no --set can change it; file:line:col and the field say where to edit.
        `error: r.yml:10:19: steps.train.with.train_file: input not found: ${join(s.dir, 'data', 'train.json')}`,
        `error: r.yml:15:14: steps.export.inputs.0: input not found: ${join(s.dir, 'notes.txt')}`,
      ]);
      expect(r.stdout).toBe('');
    }
    // Nothing ran: no run was recorded, no work directory made.
    const work = join(s.cache, 'work');
    expect(existsSync(work) ? readdirSync(work) : []).toEqual([]);
  });

  it('lists every problem as its own error event with --ui json', async () => {
    const s = sandbox();
    const recipe = s.write('r.yml', RECIPE);
    const r = await s.flow(['run', recipe, '--ui', 'json'], { env: cpuOnly });
    expect(r.code).toBe(2);
    expect(r.events.map((e) => e.type === 'error' && e.field)).toEqual([
      'steps.train.with.fp16',
      'steps.train.with.model',
      'steps.train.with.train_file',
      'steps.export.inputs.0',
    ]);
  });

  it('a sweep names a shared missing input once, and a matrix value without a --set that cannot change it', async () => {
    const s = sandbox();
    const recipe = s.write('m.yml', `name: sweep
params:
  model: /models/none
  lr: 1
matrix:
  lr: [1, 2]
steps:
  train:
    uses: python:sft
    with:
      model: \${params.model}
      train_file: t-\${params.lr}.json
      learning_rate: \${params.lr}
`);
    const r = await s.flow(['plan', recipe], { env: cpuOnly });
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'error: m.yml:11:14: steps.train[lr=1].with.model: input not found: /models/none (set it with --set model=PATH)',
      `error: m.yml:12:19: steps.train[lr=1].with.train_file: input not found: ${join(s.dir, 't-1.json')}`,
      `error: m.yml:12:19: steps.train[lr=2].with.train_file: input not found: ${join(s.dir, 't-2.json')}`,
    ]);
  });

  it('the --set it names fixes that line, and the others remain', async () => {
    const s = sandbox();
    const recipe = s.write('r.yml', RECIPE);
    // A model folder as the preflight reads one: a config and weights.
    mkdirSync(join(s.dir, 'model'));
    writeFileSync(join(s.dir, 'model', 'config.json'), '{}');
    writeFileSync(join(s.dir, 'model', 'model.safetensors'), '');
    const r = await s.flow(['plan', recipe, '--set', `model=${join(s.dir, 'model')}`, '--set', 'fp16=false'], { env: cpuOnly });
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/CUDA|steps\.train\.with\.model/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(2);
  });
});
