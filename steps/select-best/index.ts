// select-best: of a training step's checkpoints, each scored by a per-checkpoint step, hands on
// the best one. A recipe writes `select: { best: { step, metric } }` on the step that consumes
// `${steps.T.outputs.checkpoint}`, and the analyzer (src/steps/checkpoints.ts) plans this step
// between them; it can also be written by hand. Its output is a copy of the chosen checkpoint, so
// the keys of the steps after it follow that checkpoint's content, not which step number won.

import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { StepError, type StepType } from '../../src/steps/types.js';

interface Candidate {
  step: number;
  checkpoint: string;
  metrics: string;
}

/** A metric's value in a metrics.json: a number, or the `all` of a per-group object ({all, easy, ...}). */
export function metricValue(metrics: Record<string, unknown>, name: string): number | undefined {
  const v = metrics[name];
  if (typeof v === 'number') return v;
  if (v && typeof v === 'object' && typeof (v as Record<string, unknown>).all === 'number') return (v as { all: number }).all;
  return undefined;
}

const step: StepType = {
  name: 'select-best',
  description: 'The best of a training run\'s checkpoints by a metric of the step that scored each one',
  schema: {
    type: 'object',
    additionalProperties: false,
    required: ['candidates', 'metric'],
    properties: {
      metric: { type: 'string', description: 'The metric to compare (a per-group metric\'s "all")' },
      goal: { enum: ['max', 'min'], default: 'max' },
      candidates: {
        type: 'array',
        minItems: 1,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['step', 'checkpoint', 'metrics'],
          properties: {
            step: { type: 'integer', minimum: 0, description: 'Training step of the checkpoint' },
            checkpoint: { type: 'string', description: 'The checkpoint folder' },
            metrics: { type: 'string', description: 'metrics.json of the step that scored it' },
          },
        },
      },
    },
  },
  outputs: { checkpoint: 'checkpoint', selection: 'selection.json', metrics: 'metrics.json' },
  inputs: [],
  metrics: ['best_step', 'best_value'],
  sources: ['steps/select-best'],
  async run(ctx) {
    const { candidates, metric, goal } = ctx.with as { candidates: Candidate[]; metric: string; goal: 'max' | 'min' };
    const scored = candidates.map((c) => {
      const value = metricValue(JSON.parse(readFileSync(c.metrics, 'utf8')) as Record<string, unknown>, metric);
      if (value === undefined) throw new StepError(`${c.metrics}: no metric "${metric}"`);
      return { step: c.step, value };
    });
    // Ties go to the earlier checkpoint (fewer steps, the same score).
    const better = (a: number, b: number) => (goal === 'min' ? a < b : a > b);
    let best = 0;
    scored.forEach((s, i) => {
      if (better(s.value, scored[best]!.value) || (s.value === scored[best]!.value && s.step < scored[best]!.step)) best = i;
    });
    const chosen = candidates[best]!;
    cpSync(chosen.checkpoint, ctx.outputs.checkpoint!, { recursive: true });
    writeFileSync(ctx.outputs.selection!, JSON.stringify({ metric, goal, best_step: chosen.step, scores: scored }, null, 2) + '\n');
    writeFileSync(ctx.outputs.metrics!, JSON.stringify({ best_step: chosen.step, best_value: scored[best]!.value }, null, 2) + '\n');
    ctx.log(`select-best: checkpoint at step ${chosen.step} (${metric} ${scored[best]!.value}; ${scored.map((s) => `${s.step}: ${s.value}`).join(', ')})`);
    ctx.metric('best_step', chosen.step);
    ctx.metric(metric, scored[best]!.value);
  },
};

export default step;
