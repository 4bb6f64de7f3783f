// A manifest's `gpu_options`: the `with:` options that need CUDA (or a recent enough GPU), checked at
// plan time where the step's executor will run it. The step's runtime applies the same rules again
// with torch, where it really runs (python-steps/flow_runtime/gpu_rules.py).

import type { PreflightProblem, StepMachine } from '../steps/types.js';
import { getPath } from '../steps/types.js';

/** A rule naming a `with:` option that needs CUDA. */
export interface GpuRule {
  /** Dotted path in `with:`. */
  field: string;
  in?: unknown[];
  present?: boolean;
  gt?: number;
  /** Minimum compute capability (bf16 needs 8.0). */
  capability?: number;
  /** Runs on CPU too; only a GPU's capability can refuse it. */
  cpu_ok?: boolean;
  why: string;
}

function ruleMatches(rule: GpuRule, w: Record<string, unknown>): unknown {
  const v = getPath(w, rule.field);
  if (v === undefined || v === null) return undefined;
  if (rule.in && rule.in.includes(v)) return v;
  if (rule.present) return v;
  if (rule.gt !== undefined && typeof v === 'number' && v > rule.gt) return v;
  return undefined;
}

/** Plan-time problems of GPU-only options where the step's executor will run it (`machine`): no CUDA
 * there, or a GPU too old for them. */
export function gpuPreflight(name: string, rules: GpuRule[], w: Record<string, unknown>, machine: StepMachine): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  for (const rule of rules) {
    const v = ruleMatches(rule, w);
    if (v === undefined) continue;
    const option = `${rule.field}: ${typeof v === 'string' ? v : JSON.stringify(v)}`;
    if (!machine.cuda && rule.cpu_ok) continue;
    if (!machine.cuda) {
      problems.push({ field: rule.field, message: `${name}: ${option} needs a CUDA GPU (${rule.why}), and ${machine.noGpu}` });
    } else if (rule.capability !== undefined) {
      const low = machine.capabilities().filter((c) => c < rule.capability!);
      if (low.length) problems.push({ field: rule.field, message: `${name}: ${option}: ${rule.why}; this machine has compute capability ${low.join(', ')}` });
    }
  }
  return problems;
}
