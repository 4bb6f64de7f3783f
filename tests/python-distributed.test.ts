// The seed recipes' training paths end to end on CPU, through the real step adapter and launcher:
// LoRA + ZeRO-3 on 2 ranks, full SFT with ZeRO-2, ZeRO-2 + AutoTP (tp 2), QLoRA (bitsandbytes'
// CPU backend) and full T5. Each run's own load check must pass (the step reloads what it saved
// and reproduces its logits), and the artifact, loaded here the way a later step loads it, has
// no empty tensor and logits that training moved away from the base model's.
// Tiny models and 2 steps: the point is that the saves are right, not the loss.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, makeCtx, stepType, testPython } from './helpers/python.js';

const train = join(FIXTURES, 'train.json');
let python = '';
const models: Record<string, string> = {};

async function initModel(arch: string): Promise<string> {
  const r = makeCtx(stepType('python:init-model'), { train_file: train, arch, hidden_size: 64, intermediate_size: 128, vocab_size: 800 }, { python });
  await stepType('python:init-model').run(r.ctx);
  return r.ctx.outputs.model!;
}

beforeAll(async () => {
  python = await testPython();
  models.qwen2 = await initModel('qwen2');
}, 600_000);

/** A random port per run, so parallel test files (or sessions) do not meet on 29500. */
const torchrun = () => ({ type: 'torchrun', nproc_per_node: 2, master_port: 20000 + Math.floor(Math.random() * 20000) });

async function sft(w: Record<string, unknown>) {
  const r = makeCtx(stepType('python:sft'), {
    train_file: train, max_steps: 2, batch_size: 2, logging_steps: 1, learning_rate: 0.01, max_source_length: 128,
    max_target_length: 32, ...w,
  }, { python });
  await stepType('python:sft').run(r.ctx);
  return r;
}

async function checkArtifact(base: string, artifact: string, kind: 'adapter' | 'model', modelType = 'causal') {
  const r = await execa(python, [join(FIXTURES, 'check_artifact.py'), base, artifact, kind, modelType, train], { reject: false });
  expect(r.exitCode, r.stderr.slice(-2000)).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as { tensors: number; empty_tensors: string[]; finite: boolean; moved: number };
}

function expectLoadCheck(logs: string[], what: 'adapter' | 'model') {
  expect(logs.join('\n')).toMatch(new RegExp(`load check: the saved ${what} reproduces the trained model's logits`));
}

describe('distributed saves on CPU ranks', () => {
  it('LoRA under ZeRO-3 on 2 ranks saves the whole adapter', async () => {
    // Rank 16: each LoRA matrix (16 x 64) exceeds ZeRO-3's persistence threshold (10 x hidden),
    // so it is partitioned, as in any real model.
    const r = await sft({ model: models.qwen2, finetuning: 'lora', deepspeed: 'zero3', lora: { rank: 16 }, launcher: torchrun() });
    expectLoadCheck(r.logs, 'adapter');
    const a = await checkArtifact(models.qwen2!, r.ctx.outputs.adapter!, 'adapter');
    expect(a.empty_tensors).toEqual([]);
    expect(a.tensors).toBe(8);
    expect(a.finite).toBe(true);
    expect(a.moved).toBeGreaterThan(1e-3);
  }, 600_000);

  it('full SFT under ZeRO-2 on 2 ranks saves the model', async () => {
    const r = await sft({ model: models.qwen2, finetuning: 'full', deepspeed: 'zero2', learning_rate: 0.001, launcher: torchrun() });
    expectLoadCheck(r.logs, 'model');
    const a = await checkArtifact(models.qwen2!, r.ctx.outputs.model!, 'model');
    expect(a.empty_tensors).toEqual([]);
    expect(a.moved).toBeGreaterThan(1e-3);
  }, 600_000);

  it('ZeRO-2 + AutoTP (tp 2) gathers the tensor-parallel slices into a model folder', async () => {
    const r = await sft({ model: models.qwen2, finetuning: 'full', deepspeed: 'zero2', tp: 2, learning_rate: 0.001, launcher: torchrun() });
    expectLoadCheck(r.logs, 'model');
    const a = await checkArtifact(models.qwen2!, r.ctx.outputs.model!, 'model');
    expect(a.empty_tensors).toEqual([]);
    expect(a.moved).toBeGreaterThan(1e-3);
  }, 600_000);
});

describe('errors under a launcher', () => {
  it('a user error on torchrun ranks is reported as one, with its message', async () => {
    // torchrun exits 1 whatever its ranks' codes were: the message must come through the events.
    const r = makeCtx(stepType('python:sft'), { model: models.qwen2, train_file: train, finetuning: 'full', tp: 2, launcher: torchrun() }, { python });
    const err = await stepType('python:sft').run(r.ctx).then(() => null, (e: Error) => e);
    expect(err?.name).toBe('StepError');
    expect(err?.message).toMatch(/^python:sft: with\.tp: tp above 1 runs through DeepSpeed AutoTP: set deepspeed: zero2 \(or deepspeed_config\)$/);
  }, 600_000);
});

describe('single process', () => {
  it('QLoRA trains on CPU, reports a validation loss, and its adapter reloads on the 4-bit base', async () => {
    const r = await sft({ model: models.qwen2, finetuning: 'qlora', qlora: { compute_dtype: 'float32' }, val_size: 4, eval_steps: 1 });
    expectLoadCheck(r.logs, 'adapter');
    const evalLoss = r.progress.map((p) => p.values?.eval_loss).filter((v) => v !== undefined);
    expect(evalLoss.length).toBeGreaterThanOrEqual(2);
    expect(evalLoss.every((v) => Number.isFinite(v) && v! > 0)).toBe(true);
    const metrics = JSON.parse(readFileSync(r.ctx.outputs.metrics!, 'utf8'));
    expect(metrics.examples).toBe(52);
    expect(metrics.eval_loss).toBeGreaterThan(0);
    const a = await checkArtifact(models.qwen2!, r.ctx.outputs.adapter!, 'adapter');
    expect(a.empty_tensors).toEqual([]);
    expect(a.moved).toBeGreaterThan(1e-3);
  }, 600_000);

  it('full T5 (seq2seq) saves a model that reproduces its logits', async () => {
    const t5 = await initModel('t5');
    const r = await sft({ model: t5, model_type: 'seq2seq', finetuning: 'full', learning_rate: 0.001 });
    expectLoadCheck(r.logs, 'model');
    const a = await checkArtifact(t5, r.ctx.outputs.model!, 'model', 'seq2seq');
    expect(a.empty_tensors).toEqual([]);
    expect(a.moved).toBeGreaterThan(1e-3);
  }, 600_000);
});
