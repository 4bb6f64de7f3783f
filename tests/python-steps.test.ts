// The Python steps end to end on CPU with a tiny model built by python:init-model:
// LoRA train -> adapter that peft loads -> merge -> merged model generating the
// same tokens as base+adapter -> predict one line per dev item; full SFT with a
// falling loss; parameter validation in the runtime.

import { copyFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, ROOT, makeCtx, stepType, testPython, tmp } from './helpers/python.js';

const train = join(FIXTURES, 'train.json');
const dev = join(FIXTURES, 'dev.json');
const devCount = (JSON.parse(readFileSync(dev, 'utf8')) as unknown[]).length;
let python = '';
let model = '';

beforeAll(async () => {
  python = await testPython();
  const r = makeCtx(stepType('python:init-model'), { train_file: train, hidden_size: 64, intermediate_size: 128, vocab_size: 800 }, { python });
  await stepType('python:init-model').run(r.ctx);
  model = r.ctx.outputs.model!;
  expect(existsSync(join(model, 'config.json'))).toBe(true);
  expect(existsSync(join(model, 'model.safetensors'))).toBe(true);
  expect(r.metrics.find((m) => m.name === 'parameters')!.value).toBeGreaterThan(10_000);
});

describe('python step types', () => {
  it('load every manifest as python:<name> with its sources', () => {
    const sft = stepType('python:sft');
    // The whole package, modules and data alike (tests/unit/python-package-key.test.ts).
    const runtime = sft.sources.filter((s) => s.startsWith('python-steps/flow_runtime/'));
    expect(runtime).toEqual(expect.arrayContaining(['python-steps/flow_runtime/runtime.py', 'python-steps/flow_runtime/prompting.py',
      'python-steps/flow_runtime/configs/ds_zero2.json', 'python-steps/flow_runtime/configs/ds_zero3.json']));
    expect(sft.sources).toEqual(['python-steps/sft.py', 'python-steps/sft.json', ...runtime, 'python-steps/requirements.txt']);
    expect(stepType('python:predict').sources.at(-1)).toBe('python-steps/requirements-vllm.txt');
    expect(stepType('python:init-model').sources.slice(0, 3)).toEqual([
      'python-steps/init_model.py', 'python-steps/init-model.json', runtime[0],
    ]);
    for (const s of sft.sources) expect(existsSync(join(ROOT, s)), s).toBe(true);
    const outputs = sft.outputs as (w: Record<string, unknown>) => Record<string, string>;
    expect(outputs({ finetuning: 'lora' })).toHaveProperty('adapter');
    expect(outputs({ finetuning: 'full' })).toHaveProperty('model');
    expect(outputs({ finetuning: 'full' })).not.toHaveProperty('adapter');
  });
});

/** Library warnings in a step's output (bitsandbytes' kernels-community notice, DeepSpeed's accelerator
 * guess, Python warnings): none concerns what these steps run, so none may reach the log. */
const noise = (logs: string[]) => logs.filter((l) => /warn|kernels-community/i.test(l));

describe('LoRA pipeline', () => {
  it('trains an adapter, merges it, and predicts one line per dev item', async () => {
    const sft = makeCtx(stepType('python:sft'), {
      model, train_file: train, finetuning: 'lora', template: 'qwen', max_steps: 12, batch_size: 4,
      learning_rate: 0.01, logging_steps: 2, max_source_length: 256, max_target_length: 64,
      lora: { rank: 8, alpha: 16, target_modules: ['q_proj', 'v_proj', 'up_proj', 'down_proj'], modules_to_save: ['embed_tokens', 'lm_head'] },
    }, { python });
    await stepType('python:sft').run(sft.ctx);
    const adapter = sft.ctx.outputs.adapter!;
    expect(existsSync(join(adapter, 'adapter_config.json'))).toBe(true);
    expect(existsSync(join(adapter, 'adapter_model.safetensors'))).toBe(true);
    // Progress came over the event channel, with the training values.
    const last = sft.progress.at(-1)!;
    expect(last.current).toBe(12);
    expect(last.total).toBe(12);
    expect(last.values?.loss).toBeGreaterThan(0);
    expect(last.values?.tokens_per_s).toBeGreaterThan(0);
    const history = JSON.parse(readFileSync(sft.ctx.outputs.loss_history!, 'utf8')) as Array<{ step: number; loss: number }>;
    expect(history.map((h) => h.step)).toEqual([2, 4, 6, 8, 10, 12]);
    const metrics = JSON.parse(readFileSync(sft.ctx.outputs.metrics!, 'utf8')) as Record<string, unknown>;
    expect(metrics.steps).toBe(12);
    // One final loss: metrics.json's final_loss, the loss the progress line ends on and the end of
    // the series the engine stores (a point wherever the value moves) are all the last logged loss.
    expect(Object.keys(metrics).filter((k) => /final/.test(k))).toEqual(['final_loss']);
    expect(metrics.final_loss).toBe(history.at(-1)!.loss);
    expect(last.values?.loss).toBe(history.at(-1)!.loss);
    const series: Array<[number, number]> = [];
    for (const p of sft.progress) if (p.values?.loss !== undefined && p.values.loss !== series.at(-1)?.[1]) series.push([p.current, p.values.loss]);
    expect(series).toEqual(history.map((h) => [h.step, h.loss]));
    expect(sft.artifacts.map((a) => a.name)).toContain('adapter');
    expect(noise(sft.logs)).toEqual([]);

    const merge = makeCtx(stepType('python:merge'), { base: model, adapter }, { python });
    await stepType('python:merge').run(merge.ctx);
    const merged = merge.ctx.outputs.model!;
    expect(existsSync(join(merged, 'model.safetensors'))).toBe(true);
    expect(existsSync(join(merged, 'tokenizer.json'))).toBe(true);
    expect(noise(merge.logs)).toEqual([]);

    const cmp = await execa(python, [join(FIXTURES, 'compare_merge.py'), model, adapter, merged, dev], {
      env: { HF_HUB_OFFLINE: '1' },
    });
    const seen = JSON.parse(cmp.stdout.trim().split('\n').at(-1)!);
    expect(seen.lora_modules).toBeGreaterThan(0);
    expect(seen.merged_has_lora).toBe(false);
    expect(seen.same_tokens).toBe(true);
    expect(seen.max_logit_diff).toBeLessThan(1e-3);

    for (const w of [{ model, adapter }, { model: merged }]) {
      const pred = makeCtx(stepType('python:predict'), { ...w, dev_file: dev, template: 'qwen', max_new_tokens: 16, batch_size: 3 }, { python });
      await stepType('python:predict').run(pred.ctx);
      const lines = readFileSync(pred.ctx.outputs.predictions!, 'utf8').split('\n');
      expect(lines.pop()).toBe('');
      expect(lines).toHaveLength(devCount);
      for (const l of lines) expect(l.trim()).not.toBe('');
      const raw = readFileSync(pred.ctx.outputs.raw!, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(raw).toHaveLength(devCount);
      expect(raw[0].db_id).toBe('concert_singer');
      expect(pred.progress.at(-1)).toMatchObject({ current: devCount, total: devCount, unit: 'item' });
      expect(noise(pred.logs)).toEqual([]);
    }
  }, 300_000);
});

describe('full SFT', () => {
  it('trains every weight and the loss falls', async () => {
    const sft = makeCtx(stepType('python:sft'), {
      model, train_file: train, finetuning: 'full', template: 'qwen', max_steps: 30, batch_size: 4,
      learning_rate: 0.003, scheduler: 'constant', logging_steps: 1, max_source_length: 256, max_target_length: 64,
    }, { python });
    await stepType('python:sft').run(sft.ctx);
    const out = sft.ctx.outputs.model!;
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'tokenizer.json'))).toBe(true);
    const losses = (JSON.parse(readFileSync(sft.ctx.outputs.loss_history!, 'utf8')) as Array<{ loss: number }>).map((h) => h.loss);
    expect(losses).toHaveLength(30);
    // The log has the Trainer's own line for each logging step.
    const trainerLines = sft.logs.filter((l) => /^\{'loss': '[\d.e+-]+', 'grad_norm': '[\d.e+-]+', 'learning_rate': '[\d.e+-]+', 'epoch': '[\d.e+-]+'\}$/.test(l));
    expect(trainerLines, sft.logs.join('\n')).toHaveLength(30);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 5)) * 0.85);
  }, 300_000);
});

describe('failures', () => {
  it('a model folder with only config.json: train and predict fail with the exception line, the traceback in the log', async () => {
    const bare = tmp('bare-model');
    copyFileSync(join(model, 'config.json'), join(bare, 'config.json'));
    for (const [type, w] of [
      ['python:sft', { model: bare, train_file: train, finetuning: 'lora', max_steps: 1 }],
      ['python:predict', { model: bare, dev_file: dev, template: 'qwen' }],
    ] as const) {
      const r = makeCtx(stepType(type), w, { python });
      const err = await stepType(type).run(r.ctx).then(() => null, (e: Error) => e);
      expect(err?.name).toBe('StepError');
      const script = type === 'python:sft' ? 'sft.py' : 'predict.py';
      expect(err?.message).toBe(`${type}: ${script} exited with 1: OSError: Error no file named model.safetensors, or pytorch_model.bin, found in directory ${bare}.`);
      expect(r.logs.join('\n')).toMatch(/Traceback \(most recent call last\):[\s\S]*from_pretrained/);
    }
  }, 300_000);

  it('a run in which no gradient reaches a trainable weight fails before it saves (the no-learning guard)', async () => {
    // Every weight 0: hidden states, LoRA inputs and so every gradient are 0, the loss stays log(vocab).
    const zero = tmp('zero-model');
    const z = await execa(python, ['-c', `import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
m = AutoModelForCausalLM.from_pretrained(sys.argv[1])
with torch.no_grad():
    for p in m.parameters(): p.zero_()
m.save_pretrained(sys.argv[2]); AutoTokenizer.from_pretrained(sys.argv[1]).save_pretrained(sys.argv[2])`, model, zero], { reject: false });
    expect(z.exitCode, z.stderr).toBe(0);
    const r = makeCtx(stepType('python:sft'), {
      model: zero, train_file: train, finetuning: 'lora', max_steps: 4, batch_size: 2, logging_steps: 1, max_source_length: 128, max_target_length: 32,
    }, { python });
    const err = await stepType('python:sft').run(r.ctx).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/^python:sft: training learnt nothing: the gradient norm was 0 at steps 1, 2 with the loss at 6\.\d+, so no trainable weight reaches the loss; nothing is saved$/);
    expect(existsSync(r.ctx.outputs.adapter!)).toBe(false);
  }, 300_000);
});

describe('parameter validation', () => {
  it('rejects a bad with: field by name, as a user error', async () => {
    const r = makeCtx(stepType('python:sft'), { model, train_file: train, lora: { rank: 0 } }, { python });
    const err = await stepType('python:sft').run(r.ctx).then(() => null, (e: Error) => e);
    expect(err?.name).toBe('StepError');
    expect(err?.message).toMatch(/with\.lora\.rank: 0 is less than the minimum of 1/);
  });

  it('refuses GPU-only options when torch sees no CUDA, naming the option', async () => {
    const r = makeCtx(stepType('python:sft'), { model, train_file: train, fp16: true }, { python });
    const err = await stepType('python:sft').run(r.ctx).then(() => null, (e: Error) => e);
    expect(err?.name).toBe('StepError');
    expect(err?.message).toMatch(/with\.fp16: true needs a CUDA GPU/);
  });
});

describe('seq2seq', () => {
  it('trains a T5 model through python:sft and predicts with it', async () => {
    const init = makeCtx(stepType('python:init-model'), { train_file: train, arch: 't5', hidden_size: 64, intermediate_size: 128, vocab_size: 800 }, { python });
    await stepType('python:init-model').run(init.ctx);
    const t5 = init.ctx.outputs.model!;
    expect(JSON.parse(readFileSync(join(t5, 'config.json'), 'utf8')).model_type).toBe('t5');
    const sft = makeCtx(stepType('python:sft'), {
      model: t5, model_type: 'seq2seq', train_file: train, finetuning: 'lora', max_steps: 8, batch_size: 4,
      learning_rate: 0.005, logging_steps: 4, max_source_length: 256, max_target_length: 64, lora: { target_modules: ['q', 'v'] },
    }, { python });
    await stepType('python:sft').run(sft.ctx);
    expect(JSON.parse(readFileSync(join(sft.ctx.outputs.adapter!, 'adapter_config.json'), 'utf8')).task_type).toBe('SEQ_2_SEQ_LM');
    const pred = makeCtx(stepType('python:predict'), {
      model: t5, adapter: sft.ctx.outputs.adapter, model_type: 'seq2seq', dev_file: dev, max_new_tokens: 12,
    }, { python });
    await stepType('python:predict').run(pred.ctx);
    expect(readFileSync(pred.ctx.outputs.predictions!, 'utf8').split('\n').slice(0, -1)).toHaveLength(devCount);
  }, 300_000);
});
