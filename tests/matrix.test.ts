import { describe, expect, it } from 'vitest';
import { RecipeError } from '../src/recipe/errors.js';
import { expandMatrix, matrixVariants } from '../src/recipe/matrix.js';
import type { MatrixDef, Recipe, SourcePos, StepDef } from '../src/recipe/types.js';

const FILE = '/recipes/sweep.yml';

function step(id: string, fields: Partial<StepDef> = {}): StepDef {
  return {
    id,
    baseId: id,
    with: {},
    inputs: [],
    outputs: {},
    needs: [],
    resources: { gpus: 0 },
    env: {},
    pos: { file: FILE, line: 1, col: 1 },
    ...fields,
  };
}

function recipe(
  steps: StepDef[],
  matrix?: Partial<MatrixDef>,
  params: Record<string, unknown> = { lora_rank: 8, finetuning: 'lora', lr: 0.0002 },
  positions: Array<[string, SourcePos]> = [],
): Recipe {
  return {
    file: FILE,
    dir: '/recipes',
    name: 'sweep',
    params,
    ...(matrix ? { matrix: { axes: {}, include: [], exclude: [], ...matrix } } : {}),
    steps: Object.fromEntries(steps.map((s) => [s.id, s])),
    positions: new Map(positions),
  };
}

/** The classic pipeline: data -> init (shared) -> train (per variant) -> eval (per variant). */
function pipeline(matrix: Partial<MatrixDef>): Recipe {
  return recipe(
    [
      step('data', { run: 'prep.sh', outputs: { train: 'train.jsonl' } }),
      step('init', { uses: 'load-model', with: { data: '${steps.data.outputs.train}', lr: '${params.lr}' } }),
      step('train', {
        uses: 'sft',
        with: {
          base: '${steps.init.outputs.model}',
          lora: { rank: '${params.lora_rank}' },
          mode: '${params.finetuning}',
          tag: 'r${params.lora_rank}-${params.finetuning}',
        },
      }),
      step('eval', { run: 'eval.sh ${steps.train.outputs.adapter}', outputs: { metrics: 'metrics.json' } }),
    ],
    matrix,
  );
}

describe('expandMatrix', () => {
  it('passes a recipe without matrix through unchanged', () => {
    const r = recipe([step('a', { run: 'echo ${params.lora_rank}' })]);
    expect(expandMatrix(r)).toBe(r);
  });

  it('keeps steps that depend on no axis shared and expands the rest per variant', () => {
    const out = expandMatrix(pipeline({ axes: { lora_rank: [32, 128] } }));
    expect(Object.keys(out.steps)).toEqual([
      'data',
      'init',
      'train[lora_rank=32]',
      'train[lora_rank=128]',
      'eval[lora_rank=32]',
      'eval[lora_rank=128]',
    ]);
    expect(out.steps.data!.variant).toBeUndefined();
    expect(out.steps.init!.with.data).toBe('${steps.data.outputs.train}');

    const t = out.steps['train[lora_rank=128]']!;
    expect(t.baseId).toBe('train');
    expect(t.variant).toEqual({ lora_rank: 128 });
    // A whole-string reference keeps the number; one inside text is interpolated.
    expect(t.with).toEqual({
      base: '${steps.init.outputs.model}',
      lora: { rank: 128 },
      mode: '${params.finetuning}',
      tag: 'r128-${params.finetuning}',
    });
    expect(out.steps['eval[lora_rank=128]']!.run).toBe('eval.sh ${steps.train[lora_rank=128].outputs.adapter}');
    expect(out.steps['eval[lora_rank=128]']!.variant).toEqual({ lora_rank: 128 });
  });

  it('expands over several axes with ids in declaration order', () => {
    const out = expandMatrix(pipeline({ axes: { lora_rank: [32, 128], finetuning: ['lora', 'full'] } }));
    const train = Object.keys(out.steps).filter((id) => id.startsWith('train'));
    expect(train).toEqual([
      'train[lora_rank=32,finetuning=lora]',
      'train[lora_rank=32,finetuning=full]',
      'train[lora_rank=128,finetuning=lora]',
      'train[lora_rank=128,finetuning=full]',
    ]);
    const t = out.steps['train[lora_rank=128,finetuning=full]']!;
    expect(t.with.mode).toBe('full');
    expect(t.with.tag).toBe('r128-full');
    expect(out.steps['eval[lora_rank=128,finetuning=full]']!.run).toBe(
      'eval.sh ${steps.train[lora_rank=128,finetuning=full].outputs.adapter}',
    );
  });

  it('propagates dependence transitively, through needs too, and matches upstream instances on shared axes', () => {
    const r = recipe(
      [
        step('data', { run: 'prep.sh --lr ${params.lr}' }),
        step('tok', { run: 'tok.sh', env: { SIZE: '${params.lora_rank}' } }),
        step('pack', { run: 'pack.sh', needs: ['tok'] }),
        step('train', { run: 'train.sh ${params.finetuning}', needs: ['pack', 'data'] }),
        step('report', { run: 'cat ${steps.train.outputs.m}', inputs: ['notes/${params.finetuning}.md'] }),
      ],
      { axes: { lora_rank: [1, 2], finetuning: ['lora', 'full'] } },
    );
    const out = expandMatrix(r);
    expect(Object.keys(out.steps)).toEqual([
      'data',
      'tok[lora_rank=1]',
      'tok[lora_rank=2]',
      'pack[lora_rank=1]',
      'pack[lora_rank=2]',
      'train[lora_rank=1,finetuning=lora]',
      'train[lora_rank=1,finetuning=full]',
      'train[lora_rank=2,finetuning=lora]',
      'train[lora_rank=2,finetuning=full]',
      'report[lora_rank=1,finetuning=lora]',
      'report[lora_rank=1,finetuning=full]',
      'report[lora_rank=2,finetuning=lora]',
      'report[lora_rank=2,finetuning=full]',
    ]);
    // pack has no reference of its own: it depends on lora_rank only through needs.
    expect(out.steps['pack[lora_rank=2]']!.needs).toEqual(['tok[lora_rank=2]']);
    expect(out.steps['tok[lora_rank=2]']!.env).toEqual({ SIZE: '2' });
    expect(out.steps['train[lora_rank=2,finetuning=full]']!.needs).toEqual(['pack[lora_rank=2]', 'data']);
    expect(out.steps['train[lora_rank=2,finetuning=full]']!.run).toBe('train.sh full');
    expect(out.steps['report[lora_rank=1,finetuning=full]']!.inputs).toEqual(['notes/full.md']);
    expect(out.steps.data!.run).toBe('prep.sh --lr ${params.lr}');
  });

  it('applies exclude (partial match) before include (new combinations)', () => {
    const r = pipeline({
      axes: { lora_rank: [32, 128], finetuning: ['lora', 'full'] },
      exclude: [{ finetuning: 'full' }],
      include: [
        { lora_rank: 32, finetuning: 'lora' }, // already present: no new variant
        { lora_rank: 0, finetuning: 'full' },
        { lora_rank: 64 }, // finetuning taken from params (lora)
      ],
    });
    expect(matrixVariants(r)).toEqual([
      { lora_rank: 32, finetuning: 'lora' },
      { lora_rank: 128, finetuning: 'lora' },
      { lora_rank: 0, finetuning: 'full' },
      { lora_rank: 64, finetuning: 'lora' },
    ]);
    const ids = Object.keys(expandMatrix(r).steps).filter((id) => id.startsWith('eval'));
    expect(ids).toEqual([
      'eval[lora_rank=32,finetuning=lora]',
      'eval[lora_rank=128,finetuning=lora]',
      'eval[lora_rank=0,finetuning=full]',
      'eval[lora_rank=64,finetuning=lora]',
    ]);
  });

  it('makes one instance per distinct projection when a step uses only some axes', () => {
    const r = recipe(
      [step('tok', { run: 'tok ${params.lora_rank}' }), step('train', { run: 'train ${params.finetuning}', needs: ['tok'] })],
      {
        axes: { lora_rank: [32, 128], finetuning: ['lora', 'full'] },
        exclude: [{ lora_rank: 128, finetuning: 'full' }],
      },
    );
    const ids = Object.keys(expandMatrix(r).steps);
    expect(ids).toEqual([
      'tok[lora_rank=32]',
      'tok[lora_rank=128]',
      'train[lora_rank=32,finetuning=lora]',
      'train[lora_rank=32,finetuning=full]',
      'train[lora_rank=128,finetuning=lora]',
    ]);
  });

  it('is idempotent: expanding an expanded recipe changes nothing', () => {
    const once = expandMatrix(pipeline({ axes: { lora_rank: [32, 128] } }));
    const twice = expandMatrix(once);
    expect(twice.steps).toEqual(once.steps);
  });

  it('maps positions of instances to their base step', () => {
    const r = pipeline({ axes: { lora_rank: [32] } });
    r.positions.set('steps.train.with.lora.rank', { file: FILE, line: 9, col: 15 });
    r.positions.set('steps.train@key', { file: FILE, line: 7, col: 3 });
    r.positions.set('steps.training.with.x', { file: FILE, line: 20, col: 3 });
    const out = expandMatrix(r);
    expect(out.positions.get('steps.train[lora_rank=32].with.lora.rank')).toEqual({ file: FILE, line: 9, col: 15 });
    expect(out.positions.get('steps.train[lora_rank=32]@key')).toEqual({ file: FILE, line: 7, col: 3 });
    expect([...out.positions.keys()].filter((k) => k.includes('training'))).toEqual(['steps.training.with.x']);
    expect(r.positions.has('steps.train[lora_rank=32].with.lora.rank')).toBe(false);
  });
});

describe('matrix errors name the file and the matrix field', () => {
  const pos = (line: number, col: number): SourcePos => ({ file: FILE, line, col });

  it('an axis that is not a param', () => {
    const r = recipe([step('a')], { axes: { rank: [1] } }, { lr: 1 }, [
      ['matrix.rank', pos(4, 11)],
      ['matrix.rank@key', pos(4, 5)],
    ]);
    expect(() => expandMatrix(r)).toThrow(`${FILE}:4:5: matrix.rank: 'rank' is not a param`);
    expect(() => expandMatrix(r)).toThrow(RecipeError);
  });

  it('an empty axis', () => {
    // Only the matrix itself has a recorded position: the nearest parent is named.
    const r = recipe([step('a')], { axes: { lr: [] } }, { lr: 1 }, [['matrix', pos(3, 3)]]);
    expect(() => expandMatrix(r)).toThrow(`${FILE}:3:3: matrix.lr: must list at least one value`);
  });

  it('no axes at all, without positions', () => {
    expect(() => expandMatrix(recipe([step('a')], { axes: {} }))).toThrow(`${FILE}: matrix: declares no axes`);
  });

  it('include and exclude naming unknown axes', () => {
    const inc = recipe([step('a')], { axes: { lr: [1] }, include: [{ lr: 2, rank: 3 }] }, { lr: 1 });
    expect(() => expandMatrix(inc)).toThrow(`${FILE}: matrix.include.0.rank: 'rank' is not a matrix axis (axes: lr)`);
    const exc = recipe([step('a')], { axes: { lr: [1] }, exclude: [{ lr: 1 }, { x: 1 }] }, { lr: 1 });
    expect(() => expandMatrix(exc)).toThrow(`${FILE}: matrix.exclude.1.x: 'x' is not a matrix axis`);
  });

  it('an exclude that removes every combination', () => {
    const r = recipe([step('a')], { axes: { lr: [1, 2] }, exclude: [{ lr: 1 }, { lr: 2 }] }, { lr: 1 });
    expect(() => expandMatrix(r)).toThrow(`${FILE}: matrix.exclude: excludes every combination`);
  });
});
