// Step labels that fit a column. A sweep's ids repeat every axis
// (`train[lora_rank=32,finetuning=lora,lr=0.0002]`); a label keeps only the axes
// whose values differ across the run, then shortens further when the column is
// narrow, and never lets two steps end up with the same text.

import type { StepInfo } from '../../events.js';

function baseOf(id: string): string {
  const i = id.indexOf('[');
  return i > 0 && id.endsWith(']') ? id.slice(0, i) : id;
}

function valueText(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Axes whose value is not the same in every variant of the run. */
function differingAxes(steps: StepInfo[]): string[] {
  const seen = new Map<string, Set<string>>();
  for (const s of steps) {
    for (const [k, v] of Object.entries(s.variant ?? {})) {
      if (!seen.has(k)) seen.set(k, new Set());
      seen.get(k)!.add(valueText(v));
    }
  }
  return [...seen].filter(([, values]) => values.size > 1).map(([k]) => k);
}

/** Shortens `text` to `width` cells, an ellipsis marking the cut. */
function cut(text: string, width: number): string {
  if (text.length <= width) return text;
  if (width <= 1) return '…';
  return text.slice(0, width - 1) + '…';
}

/**
 * One label per step id, each at most `width` cells when it can be done without
 * two labels colliding. Candidates, shortest last: differing axes as k=v, values
 * only, then the base id cut to leave the values whole.
 */
export function stepLabels(steps: StepInfo[], width = Infinity): Map<string, string> {
  const axes = differingAxes(steps);
  const candidates = (s: StepInfo): string[] => {
    const base = baseOf(s.id);
    if (!s.variant || base === s.id) return [s.id, cut(s.id, width)];
    const shown = axes.filter((a) => a in s.variant!);
    if (shown.length === 0) return [base, cut(base, width)];
    const kv = `[${shown.map((a) => `${a}=${valueText(s.variant![a])}`).join(',')}]`;
    const vals = `[${shown.map((a) => valueText(s.variant![a])).join(',')}]`;
    const room = Math.max(2, width - vals.length);
    return [base + kv, base + vals, cut(base, room) + vals, cut(base + vals, width)];
  };
  const all = steps.map(candidates);
  const labels = new Map<string, string>();
  // Each step takes its first candidate that fits; a collision sends both back to their full form.
  const pick = steps.map((_, i) => {
    const c = all[i]!;
    return c.find((l) => l.length <= width) ?? c[c.length - 1]!;
  });
  const count = new Map<string, number>();
  for (const l of pick) count.set(l, (count.get(l) ?? 0) + 1);
  const nth = new Map<string, number>();
  steps.forEach((s, i) => {
    let label = pick[i]!;
    if (count.get(label)! > 1) {
      // Still ambiguous (cut too short): number the look-alikes so no two rows read the same.
      const n = (nth.get(label) ?? 0) + 1;
      nth.set(label, n);
      const tag = `#${n}`;
      label = cut(label, Math.max(1, Math.min(width, label.length + tag.length) - tag.length)) + tag;
    }
    labels.set(s.id, label);
  });
  return labels;
}
