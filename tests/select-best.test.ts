// steps/select-best on real files: the best checkpoint by a metric (a per-group metric's `all`),
// max or min, ties to the earlier checkpoint, and its files copied to the output.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import step from '../steps/select-best/index.js';
import type { StepRunContext } from '../src/steps/types.js';

const dir = mkdtempSync(join(tmpdir(), 'flow-select-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Checkpoints at steps 10, 20, 30 whose eval recorded these values (numbers or {all: ...}). */
function candidates(tag: string, values: unknown[]) {
  return values.map((v, i) => {
    const n = (i + 1) * 10;
    const ckpt = join(dir, tag, `ckpt-${n}`);
    mkdirSync(ckpt, { recursive: true });
    writeFileSync(join(ckpt, 'weights.bin'), `weights of ${n}`);
    const metrics = join(dir, tag, `metrics-${n}.json`);
    writeFileSync(metrics, JSON.stringify({ ex: v, loss: v }));
    return { step: n, checkpoint: ckpt, metrics };
  });
}

async function select(tag: string, values: unknown[], metric: string, goal: 'max' | 'min') {
  const out = join(dir, tag, 'out');
  mkdirSync(out, { recursive: true });
  const outputs = { checkpoint: join(out, 'checkpoint'), selection: join(out, 'selection.json'), metrics: join(out, 'metrics.json') };
  const ctx = { with: { candidates: candidates(tag, values), metric, goal }, outputs, log: () => {}, metric: () => {} } as unknown as StepRunContext;
  await step.run(ctx);
  return {
    best: (JSON.parse(readFileSync(outputs.selection, 'utf8')) as { best_step: number }).best_step,
    weights: readFileSync(join(outputs.checkpoint, 'weights.bin'), 'utf8'),
  };
}

it('takes the highest all of a per-group metric, and copies that checkpoint', async () => {
  expect(await select('max', [{ all: 0.2, easy: 0.9 }, { all: 0.5, easy: 0.1 }, { all: 0.4 }], 'ex', 'max')).toEqual({ best: 20, weights: 'weights of 20' });
});

it('takes the lowest with goal: min', async () => {
  expect((await select('min', [0.9, 0.7, 0.8], 'loss', 'min')).best).toBe(20);
});

it('gives a tie to the earlier checkpoint', async () => {
  expect((await select('tie', [0.1, 0.3, 0.3], 'ex', 'max')).best).toBe(20);
});

it('refuses a metrics file without the metric', async () => {
  await expect(select('missing', [0.1, 0.2, 0.3], 'em', 'max')).rejects.toThrow(/no metric "em"/);
});
