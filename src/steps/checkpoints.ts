// Scoring every checkpoint of a training step, and choosing the best one.
//
// `${steps.T.outputs.checkpoint}` names no single output: a step that reads it is planned once
// per checkpoint T commits (`predict_val[ckpt=10]`, `predict_val[ckpt=20]`, ... and the final
// model), and so is every step downstream of it (`eval_val[ckpt=10]`, ...). A step that reads it
// with `select: { best: { step: E, metric: M } }` is planned once, after a `select-best` step
// that compares E's metric over E's per-checkpoint instances and hands on the winner.
//
// Why planned statically, from T's `with:` (save_steps, max_steps), and not expanded at run time
// from what T turned out to save: every other part of flow knows the whole graph before
// anything runs (`flow plan` shows each instance and whether it is cached, `--only` and the TUI
// name them, keys are computed ahead), and a step type can say which checkpoints it will commit
// from its settings alone. The price is that the training length must be known in steps
// (python:sft's save_checkpoints requires max_steps). Each checkpoint is an ordinary declared
// output of T, committed to the store, so an instance's key follows the checkpoint's content:
// a longer run whose first checkpoints come out byte-identical re-scores only the new ones.
//
// The instances are named and wired like a matrix's (recipe/matrix.ts's variantId and its
// `[axis=value]` ids), with `ckpt` as the axis; this runs after the matrix expansion, so each
// variant of a sweep fans out over its own training step's checkpoints.

import { RecipeError } from '../recipe/errors.js';
import { stepRefs } from '../recipe/fields.js';
import { CKPT_AXIS, variantId } from '../recipe/matrix.js';
import { REF_PATTERN, parseRef } from '../recipe/refs.js';
import type { Recipe, SourcePos, StepDef } from '../recipe/types.js';
import type { StepType } from './types.js';

/** The output name that stands for "each checkpoint" (or, under `select:`, the chosen one). */
export const CHECKPOINT_OUTPUT = 'checkpoint';
const SELECT_TYPE = 'select-best';

export interface CheckpointHooks {
  typeOf(def: StepDef): Promise<StepType>;
  /** The step's `with:` with params resolved and defaults applied (undefined when it does not validate). */
  resolvedWith(def: StepDef, type: StepType): Record<string, unknown> | undefined;
}

export interface Expanded {
  recipe: Recipe;
  /** Plan-time warnings (selecting on the split that is also reported). */
  warnings: string[];
}

export async function expandCheckpoints(recipe: Recipe, hooks: CheckpointHooks): Promise<Expanded> {
  const defs = Object.values(recipe.steps);
  const readers = defs.filter((d) => checkpointRefs(d).length > 0);
  if (!readers.length && !defs.some((d) => d.select)) return { recipe, warnings: [] };

  const at = (d: StepDef, field: string): SourcePos =>
    recipe.positions.get(`steps.${d.baseId}.${field}@key`) ?? recipe.positions.get(`steps.${d.baseId}.${field}`) ?? d.pos;

  // The checkpoints of each training step that is read: step number -> output name.
  const ckpts = new Map<string, Map<number, string>>();
  for (const d of [...readers, ...defs.filter((x) => x.select)]) {
    for (const { step: t, path } of checkpointRefs(d)) {
      if (ckpts.has(t) || !recipe.steps[t]) continue;
      const def = recipe.steps[t]!;
      const type = await hooks.typeOf(def);
      const w = hooks.resolvedWith(def, type);
      if (!w) return { recipe, warnings: [] }; // its own `with:` error is what the analyzer reports
      const list = type.checkpoints?.(w);
      if (!list?.size) {
        const how = type.checkpoints ? 'set with.save_checkpoints: true and max_steps' : `${type.name} commits no checkpoints`;
        throw new RecipeError(`step "${t}" has no checkpoints to score (${how})`, d.select ? at(d, 'select') : at(d, path), `steps.${d.id}.${path}`);
      }
      ckpts.set(t, list);
    }
  }

  // Which training step's checkpoints each step is scored per (directly, or through its upstream).
  const source = new Map<string, string | undefined>();
  const sourceOf = (id: string, seen = new Set<string>()): string | undefined => {
    if (source.has(id)) return source.get(id);
    const d = recipe.steps[id];
    if (!d || d.select || seen.has(id)) return undefined; // a selecting step is planned once
    seen.add(id);
    const found = new Set<string>();
    for (const { step } of checkpointRefs(d)) if (ckpts.has(step)) found.add(step);
    for (const { ref } of stepRefs(d)) if (ref.kind === 'steps') { const s = sourceOf(ref.step, seen); if (s) found.add(s); }
    for (const n of d.needs) { const s = sourceOf(n, seen); if (s) found.add(s); }
    if (found.size > 1) {
      throw new RecipeError(`reads the checkpoints of several steps (${[...found].join(', ')}); score one training step's checkpoints per step`, d.pos, `steps.${id}`);
    }
    const s = [...found][0];
    source.set(id, s);
    return s;
  };
  for (const d of defs) sourceOf(d.id);

  const instanceId = (d: StepDef, n: number) => variantId(d.baseId, { ...(d.variant ?? {}), [CKPT_AXIS]: n });
  const steps: Record<string, StepDef> = {};
  const warnings: string[] = [];
  for (const d of defs) {
    const t = source.get(d.id);
    if (t) {
      for (const [n, output] of ckpts.get(t)!) {
        const id = instanceId(d, n);
        const rewrite = (step: string, out: string): string | undefined => {
          if (step === t && out === CHECKPOINT_OUTPUT) return `\${steps.${t}.outputs.${output}}`;
          const up = recipe.steps[step];
          return up && source.get(step) === t ? `\${steps.${instanceId(up, n)}.outputs.${out}}` : undefined;
        };
        steps[id] = {
          ...rewritten(d, rewrite, (need) => (recipe.steps[need] && source.get(need) === t ? instanceId(recipe.steps[need]!, n) : need)),
          id,
          variant: { ...(d.variant ?? {}), [CKPT_AXIS]: n },
        };
      }
      continue;
    }
    if (!d.select) {
      steps[d.id] = d;
      continue;
    }
    const sel = selectStep(recipe, d, ckpts, source, instanceId, at);
    const E = recipe.steps[sel.scoredBy]!;
    const eType = await hooks.typeOf(E);
    const { metric } = d.select.best;
    const declared = eType.metrics ?? [];
    if (!declared.includes(metric)) {
      throw new RecipeError(
        `step "${d.select.best.step}" (${eType.name}) records no metric "${metric}"${declared.length ? ` (metrics: ${declared.join(', ')})` : ''}`,
        at(d, 'select.best.metric'),
        `steps.${d.id}.select.best.metric`,
      );
    }
    if (!steps[sel.def.id]) steps[sel.def.id] = sel.def;
    steps[d.id] = rewritten(d, (step, out) => (step === sel.trained && out === CHECKPOINT_OUTPUT ? `\${steps.${sel.def.id}.outputs.checkpoint}` : undefined), (n) => n);
    const leak = reportedOnSameSplit(recipe, E, sel.trained, source);
    if (leak) {
      warnings.push(
        `${d.pos.file}:${at(d, 'select').line}:${at(d, 'select').col}: steps.${d.id}.select: the checkpoint is chosen on ${leak.split}, ` +
          `which step ${leak.reporter} also reports: its score is biased upward (select on a held-out split, e.g. spider-sft's validation_databases)`,
      );
    }
  }
  return { recipe: { ...recipe, steps }, warnings: [...new Set(warnings)] };
}

/** The `${steps.T.outputs.checkpoint}` references of a step. */
function checkpointRefs(d: StepDef): Array<{ step: string; path: string }> {
  return stepRefs(d).flatMap(({ ref, path }) => (ref.kind === 'steps' && ref.output === CHECKPOINT_OUTPUT ? [{ step: ref.step, path }] : []));
}

/** A copy of a step with its step references (and needs) rewritten; unchanged ones stay as written. */
function rewritten(d: StepDef, ref: (step: string, output: string) => string | undefined, need: (id: string) => string): StepDef {
  const subst = (s: string): string =>
    s.includes('${')
      ? s.replace(REF_PATTERN, (text, inner: string) => {
          const r = parseRef(inner, text);
          return r.kind === 'steps' ? (ref(r.step, r.output) ?? text) : text;
        })
      : s;
  const deep = (v: unknown): unknown =>
    typeof v === 'string' ? subst(v) : Array.isArray(v) ? v.map(deep) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x)])) : v;
  const map = (r: Record<string, string>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, subst(v)]));
  return {
    ...d,
    with: deep(d.with) as Record<string, unknown>,
    ...(d.run !== undefined ? { run: subst(d.run) } : {}),
    inputs: d.inputs.map(subst),
    outputs: map(d.outputs),
    env: map(d.env),
    needs: d.needs.map(need),
  };
}

/** The select-best step a `select:` stands for, checked against the recipe. */
function selectStep(
  recipe: Recipe,
  d: StepDef,
  ckpts: Map<string, Map<number, string>>,
  source: Map<string, string | undefined>,
  instanceId: (d: StepDef, n: number) => string,
  at: (d: StepDef, field: string) => SourcePos,
): { def: StepDef; trained: string; scoredBy: string } {
  const { step: base, metric, goal = 'max' } = d.select!.best;
  const field = `steps.${d.id}.select`;
  const refs = [...new Set(checkpointRefs(d).map((r) => r.step))];
  if (refs.length !== 1) {
    throw new RecipeError(`select: chooses among the checkpoints of one step; this step reads ${refs.length ? refs.join(', ') : 'no ${steps.T.outputs.checkpoint}'}`, at(d, 'select'), field);
  }
  const trained = refs[0]!;
  // The scoring step of this step's matrix variant: its instances agree with it on every shared axis.
  const agrees = (e: StepDef) => Object.entries(d.variant ?? {}).every(([k, v]) => !(k in (e.variant ?? {})) || JSON.stringify(e.variant![k]) === JSON.stringify(v));
  const candidates = Object.values(recipe.steps).filter((e) => e.baseId === base && agrees(e));
  if (!candidates.length) {
    const known = [...new Set(Object.values(recipe.steps).map((s) => s.baseId))];
    throw new RecipeError(`unknown step "${base}" (steps: ${known.join(', ')})`, at(d, 'select.best.step'), `${field}.best.step`);
  }
  const scoredBy = candidates.find((e) => source.get(e.id) === trained);
  if (!scoredBy) {
    throw new RecipeError(
      `step "${base}" is not scored per checkpoint of "${trained}" (it must read \${steps.${trained}.outputs.${CHECKPOINT_OUTPUT}}, directly or through its upstream steps)`,
      at(d, 'select.best.step'),
      `${field}.best.step`,
    );
  }
  const stem = `${base}.${goal === 'max' ? 'best' : 'min'}_${metric}`;
  const variant = scoredBy.variant && Object.keys(scoredBy.variant).length ? scoredBy.variant : undefined;
  const id = variantId(stem, variant ?? {});
  return {
    trained,
    scoredBy: scoredBy.id,
    def: {
      id,
      baseId: stem,
      uses: SELECT_TYPE,
      with: {
        metric,
        goal,
        candidates: [...ckpts.get(trained)!].map(([n, output]) => ({
          step: n,
          checkpoint: `\${steps.${trained}.outputs.${output}}`,
          metrics: `\${steps.${instanceId(scoredBy, n)}.outputs.metrics}`,
        })),
      },
      inputs: [],
      outputs: {},
      needs: [],
      resources: { gpus: 0 },
      env: {},
      ...(variant ? { variant } : {}),
      pos: at(d, 'select'),
    },
  };
}

/**
 * Whether a step that reports a score of the trained model (same type as the scoring step, not
 * per checkpoint) reads the same upstream data as the scoring step: selecting and reporting on
 * one split. The data are the outputs it reads from steps that do not depend on the training.
 */
function reportedOnSameSplit(
  recipe: Recipe,
  scoring: StepDef,
  trained: string,
  source: Map<string, string | undefined>,
): { split: string; reporter: string } | undefined {
  const downstreamOfTraining = new Map<string, boolean>();
  const dependsOnTraining = (id: string): boolean => {
    const known = downstreamOfTraining.get(id);
    if (known !== undefined) return known;
    downstreamOfTraining.set(id, false);
    const d = recipe.steps[id];
    const ups = d ? [...stepRefs(d).flatMap(({ ref }) => (ref.kind === 'steps' ? [ref.step] : [])), ...d.needs] : [];
    const yes = id === trained || (d?.select !== undefined) || ups.some((u) => u === trained || dependsOnTraining(u));
    downstreamOfTraining.set(id, yes);
    return yes;
  };
  const data = (d: StepDef) =>
    new Set(stepRefs(d).flatMap(({ ref }) => (ref.kind === 'steps' && !dependsOnTraining(ref.step) ? [`${ref.step}.${ref.output}`] : [])));
  const scored = data(scoring);
  for (const r of Object.values(recipe.steps)) {
    if (r.uses !== scoring.uses || source.get(r.id) || r.id === scoring.id || !dependsOnTraining(r.id)) continue;
    const same = [...data(r)].filter((x) => scored.has(x));
    if (same.length) return { split: same.join(', '), reporter: r.id };
  }
  return undefined;
}
