// EX per checkpoint and `select: best` (src/steps/checkpoints.ts, steps/select-best, python:sft's
// save_checkpoints, spider-sft's validation_databases), through the real CLI on a tiny model:
// every checkpoint is predicted and scored on the validation split, the best one goes on to the
// dev split, and a longer run scores only its new checkpoint. Plus the plan-time errors. The same
// training run logs to the trackers (report_to:): TensorBoard event files read back with
// TensorBoard's EventAccumulator, and a real MLflow server queried with the MLflow client; and a
// tracker that is down is a warning, and `flow track` replays the run once it is up.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkpointRecipe, doneStep, failures, flow, stepStatuses } from './helpers/tiny-seeds.js';
import { execa } from 'execa';
import { testPython } from './helpers/python.js';
import { freePort, startMlflow, trackersPython, type MlflowServer } from './helpers/trackers.js';

const RECIPE = checkpointRecipe({
  name: 'ckpt-select',
  steps: 6,
  tail: `  best_files:
    run: ls \${steps.train.outputs.checkpoint} > files.txt
    outputs:
      files: files.txt
    select: { best: { step: eval_val, metric: ex } }
`,
});

const dir = mkdtempSync(join(tmpdir(), 'flow-ckpt-'));
const o = { cwd: dir, cache: join(dir, 'cache'), python: '' };
let port = 0;
let server: MlflowServer | undefined;
beforeAll(async () => {
  o.python = await trackersPython(await testPython());
  port = await freePort();
}, 900_000);
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
}, 60_000);

/** Runs a Python snippet in the trackers' env; its stdout parsed as JSON. */
async function py(code: string): Promise<any> {
  const r = await execa(o.python, ['-c', code], { cwd: dir, env: { PYTHONWARNINGS: 'ignore' } });
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

/** The metric history of the MLflow run of a flow run: tag -> [[step, value], ...], and its params. */
function mlflowHistory(
  uri: string,
  experiment: string,
  runName: string,
  keys: string[],
): Promise<Record<string, Array<[number, number]>> & { params: Record<string, string> }> {
  return py(`
import json
from mlflow import MlflowClient
c = MlflowClient(tracking_uri=${JSON.stringify(uri)})
exp = c.get_experiment_by_name(${JSON.stringify(experiment)})
runs = c.search_runs([exp.experiment_id], filter_string="tags.\`flow.run_name\` = '${runName}'")
assert len(runs) == 1, len(runs)
out = {k: sorted((m.step, m.value) for m in c.get_metric_history(runs[0].info.run_id, k)) for k in ${JSON.stringify(keys)}}
out["params"] = runs[0].data.params
print(json.dumps(out))
`);
}

function write(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

/** 1-based line and column of `needle`'s first character in `text`. */
function place(text: string, needle: string): string {
  const i = text.indexOf(needle);
  const before = text.slice(0, i).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

describe('plan-time errors of select: and per-checkpoint scoring (exit 2, file:line:col)', () => {
  it('select: on a metric the scoring step does not record', async () => {
    const text = RECIPE.replace('metric: ex }', 'metric: exx }');
    const r = await flow(['validate', write('metric.yml', text)], o);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`metric.yml:${place(text, 'metric: exx')}: steps.best_files.select.best.metric: step "eval_val" (sql-eval) records no metric "exx" (metrics: ex, em`);
  });

  it('a split the data step does not produce', async () => {
    const text = RECIPE.replace('      validation_databases: 1\n', '');
    const r = await flow(['validate', write('split.yml', text)], o);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`split.yml:${place(text, '${steps.data.outputs.validation}')}: steps.predict_val[ckpt=2].with.dev_file: step "data" has no output "validation"`);
  });

  it('a training step that commits no checkpoints', async () => {
    const text = RECIPE.replace('      save_checkpoints: true\n', '');
    const r = await flow(['validate', write('none.yml', text)], o);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/none\.yml:\d+:\d+: steps\.predict_val\.with\.adapter: step "train" has no checkpoints to score \(set with\.save_checkpoints: true and max_steps\)/);
  });

  it('save_checkpoints without max_steps', async () => {
    const text = RECIPE.replace('max_steps: ${params.steps}', 'max_steps: 0');
    const r = await flow(['validate', write('nosteps.yml', text)], o);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`nosteps.yml:${place(text, 'max_steps: 0').replace(/:\d+$/, '')}:`);
    expect(r.stderr).toContain('steps.train.with.max_steps: save_checkpoints needs max_steps >= 1');
  });

  it('select: on a step that is not scored per checkpoint', async () => {
    const text = RECIPE.replace('step: eval_val', 'step: data');
    const r = await flow(['validate', write('notper.yml', text)], o);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`notper.yml:${place(text, 'step: data')}: steps.best_files.select.best.step: step "data" is not scored per checkpoint of "train"`);
  });

  it('warns when the checkpoint is selected on the split that is also reported', async () => {
    // eval_dev scores the selected checkpoint on dev; selecting on dev too is the leak.
    const leaky = RECIPE.replace('${steps.data.outputs.validation_gold}', '${steps.data.outputs.gold}') + `  eval_dev:
    uses: sql-eval
    select: { best: { step: eval_val, metric: ex } }
    with:
      predictions: \${steps.train.outputs.checkpoint}/adapter_config.json
      gold: \${steps.data.outputs.gold}
      db_dir: \${params.spider}/database
      tables: \${params.spider}/tables.json
`;
    const r = await flow(['validate', write('leak.yml', leaky)], o);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`leak.yml:${place(leaky, 'select: { best: { step: eval_val, metric: ex } }\n    with:\n      predictions: ${steps.train')}: steps.eval_dev.select: the checkpoint is chosen on data.gold, which step eval_dev also reports`);
    const clean = await flow(['validate', write('clean.yml', RECIPE)], o);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stderr).not.toContain('warning');
  });
});

describe('trackers', () => {
  it('a tracker that is down is a warning naming it, the run is not lost, and flow track replays it', async () => {
    const text = `name: track-replay
report_to:
  mlflow:
    tracking_uri: http://127.0.0.1:${port}
steps:
  score:
    run: |
      echo '{"ex": {"all": 0.25, "easy": 0.5}}' > metrics.json
    outputs:
      metrics: metrics.json
`;
    const file = write('replay.yml', text);
    const r = await flow(['run', file, '--ui', 'json'], o);
    expect(r.code, r.stderr).toBe(0);
    expect(stepStatuses(r.events).score).toBe('done');
    const warnings = r.events.filter((e) => e.type === 'warning').map((e) => (e as { message: string }).message);
    expect(warnings.some((w) => w.startsWith(`mlflow: `) && w.includes('flow track'))).toBe(true);
    const runId = (r.events.find((e) => e.type === 'run-start') as { runId: string }).runId;

    // The server comes up at that address: the run is logged from flow's records.
    server = await startMlflow(o.python, dir, port);
    const t = await flow(['track', runId], o);
    expect(t.code, t.stderr).toBe(0);
    const h = await mlflowHistory(server.uri, 'track-replay', runId, ['score/ex/all', 'score/ex/easy']);
    expect(h['score/ex/all']).toEqual([[0, 0.25]]);
    expect(h['score/ex/easy']).toEqual([[0, 0.5]]);
  }, 600_000);
});

describe('trackers in a sweep', () => {
  it('logs one TensorBoard run per variant, each with its own figures', async () => {
    const text = `name: track-sweep
params:
  rate: 1
matrix:
  rate: [1, 2]
report_to:
  tensorboard:
    dir: tb
steps:
  score:
    run: |
      echo '{"ex": {"all": 0.\${params.rate}}}' > metrics.json
    outputs:
      metrics: metrics.json
`;
    const r = await flow(['run', write('sweep.yml', text), '--ui', 'json'], o);
    expect(r.code, r.stderr).toBe(0);
    expect(r.events.filter((e) => e.type === 'warning')).toEqual([]);
    const runId = (r.events.find((e) => e.type === 'run-start') as { runId: string }).runId;
    const read = (variant: string) => py(`
import json
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(${JSON.stringify(join(dir, 'tb', 'track-sweep'))} + "/${runId}[${variant}]"); ea.Reload()
print(json.dumps([[e.step, e.value] for e in ea.Scalars('score/ex/all')]))
`);
    const [one, two] = [await read('rate=1'), await read('rate=2')];
    expect(one).toHaveLength(1);
    expect(one[0][1]).toBeCloseTo(0.1, 6);
    expect(two[0][1]).toBeCloseTo(0.2, 6);
  }, 300_000);
});

describe('EX per checkpoint on a tiny model', () => {
  it('scores each of 3 checkpoints, selects the best on validation, and a longer run scores only the new one', async () => {
    server ??= await startMlflow(o.python, dir, port);
    const trackers = `report_to:\n  tensorboard:\n    dir: tb\n  mlflow:\n    tracking_uri: ${server!.uri}\nsteps:\n`;
    const file = write('run.yml', RECIPE.replace('steps:\n', trackers));
    const first = await flow(['run', file, '--ui', 'json'], o);
    expect(first.code, failures(first.events) || first.stderr.slice(-2000)).toBe(0);
    expect(first.events.filter((e) => e.type === 'warning')).toEqual([]);
    const s1 = stepStatuses(first.events);
    for (const n of [2, 4, 6]) {
      expect(s1[`predict_val[ckpt=${n}]`]).toBe('done');
      expect(s1[`eval_val[ckpt=${n}]`]).toBe('done');
    }
    // The validation split is whole training databases: none of them is left in train.
    const data = doneStep(first.events, 'data')!;
    const dbs = (f: string) => new Set((JSON.parse(readFileSync(f, 'utf8')) as Array<{ db_id: string }>).map((x) => x.db_id));
    const [trainDbs, valDbs] = [dbs(data.outputs.train!), dbs(data.outputs.validation!)];
    expect(valDbs.size).toBe(1);
    expect([...valDbs].filter((d) => trainDbs.has(d))).toEqual([]);
    expect(readFileSync(data.outputs.validation_gold!, 'utf8').trim().split('\n').every((l) => valDbs.has(l.split('\t')[1]!))).toBe(true);
    // Each checkpoint is an output of train, and a different one per step number.
    const train = doneStep(first.events, 'train')!;
    const ckptFiles = (n: number) => readFileSync(join(train.outputs[`checkpoint_${n}`]!, 'adapter_model.safetensors'));
    expect(ckptFiles(2).equals(ckptFiles(6))).toBe(false);
    // The selection is the argmax of the per-checkpoint EX each eval recorded (ties: the earliest).
    const ex = (n: number) => (JSON.parse(readFileSync(doneStep(first.events, `eval_val[ckpt=${n}]`)!.outputs.metrics!, 'utf8')) as { ex: { all: number } }).ex.all;
    const sel = doneStep(first.events, 'eval_val.best_ex')!;
    const selection = JSON.parse(readFileSync(sel.outputs.selection!, 'utf8')) as { best_step: number; scores: Array<{ step: number; value: number }> };
    expect(selection.scores).toEqual([2, 4, 6].map((n) => ({ step: n, value: ex(n) })));
    const bestValue = Math.max(...[2, 4, 6].map(ex));
    expect(selection.best_step).toBe([2, 4, 6].find((n) => ex(n) === bestValue));
    // The downstream step got that checkpoint's files.
    expect(readFileSync(sel.outputs.checkpoint! + '/adapter_model.safetensors').equals(ckptFiles(selection.best_step))).toBe(true);
    expect(readFileSync(doneStep(first.events, 'best_files')!.outputs.files!, 'utf8')).toContain('adapter_model.safetensors');

    // The EX curve, per checkpoint, in both trackers, in the flow run's one tracker run, beside
    // the Trainer's own loss curve.
    const runId = (first.events.find((e) => e.type === 'run-start') as { runId: string }).runId;
    const curve = [2, 4, 6].map((n) => [n, ex(n)]);
    const tb = await py(`
import json
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
ea = EventAccumulator(${JSON.stringify(join(dir, 'tb', 'ckpt-select', runId))}); ea.Reload()
print(json.dumps({t: [[e.step, e.value] for e in ea.Scalars(t)] for t in ['eval_val/ex/all', 'eval_val/ex/easy', 'train/loss']}))
`);
    // TensorBoard keeps float32: the values to its precision.
    expect(tb['eval_val/ex/all'].map(([n]: number[]) => n)).toEqual([2, 4, 6]);
    tb['eval_val/ex/all'].forEach(([, v]: number[], i: number) => expect(v).toBeCloseTo(curve[i]![1]!, 6));
    expect(tb['eval_val/ex/easy']).toHaveLength(3);
    expect(tb['train/loss'].length).toBeGreaterThanOrEqual(6);
    const ml = await mlflowHistory(server!.uri, 'ckpt-select', runId, ['eval_val/ex/all', 'loss']);
    expect(ml['eval_val/ex/all']).toEqual(curve);
    expect(ml.loss.length).toBeGreaterThanOrEqual(6); // the Trainer's MLflow callback, in the same run
    expect(ml.params.steps).toBe('6');

    // flow plot and the HTML report draw EX against the training step, a line per group.
    const plot = await flow(['plot', runId, '--out', join(dir, 'plot')], o);
    expect(plot.code, plot.stderr).toBe(0);
    const svg = readFileSync(join(dir, 'plot', 'ex-by-checkpoint.svg'), 'utf8');
    for (const label of ['EX per checkpoint', 'eval_val all', 'eval_val easy']) expect(svg).toContain(label);
    const rep = await flow(['report', runId, '--out', join(dir, 'report')], o);
    expect(rep.code, rep.stderr).toBe(0);
    expect(readFileSync(join(dir, 'report', 'report.html'), 'utf8')).toContain('EX per checkpoint');

    // Two more steps: one more checkpoint; the first three come out byte-identical (constant
    // learning rate, same data order), so their predictions and scores are cache hits.
    const second = await flow(['run', file, '--ui', 'json', '--set', 'steps=8'], o);
    expect(second.code, failures(second.events) || second.stderr.slice(-2000)).toBe(0);
    const s2 = stepStatuses(second.events);
    expect(s2.train).toBe('done');
    for (const n of [2, 4, 6]) {
      expect(s2[`predict_val[ckpt=${n}]`]).toBe('cached');
      expect(s2[`eval_val[ckpt=${n}]`]).toBe('cached');
    }
    expect(s2['predict_val[ckpt=8]']).toBe('done');
    expect(s2['eval_val[ckpt=8]']).toBe('done');
    expect(s2['eval_val.best_ex']).toBe('done');
  }, 900_000);
});
