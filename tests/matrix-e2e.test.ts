// A matrix recipe of shell steps through the real CLI: it expands to the right
// variants, runs the shared upstream step once, and `flow compare` prints the
// table from what the engine recorded.

import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const FLOW = join(ROOT, 'bin/flow.js');

let dir: string;
let recipe: string;
let cache: string;

function flow(...args: string[]) {
  const r = spawnSync(process.execPath, [FLOW, ...args], { encoding: 'utf8', cwd: dir });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs the recipe with the NDJSON reporter; returns the run id and every event. */
function runRecipe() {
  const r = flow('run', recipe, '--cache-dir', cache, '--ui', 'json');
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; runId: string; [k: string]: unknown });
  return { runId: events[0]!.runId, events };
}

function executions(runId?: string): Array<{ run_id: string; step_id: string; status: string; variant: string | null }> {
  const db = new Database(join(cache, 'flow.db'), { readonly: true });
  try {
    const sql = 'SELECT run_id, step_id, status, variant FROM executions' + (runId ? ' WHERE run_id = ?' : '') + ' ORDER BY step_id';
    return (runId ? db.prepare(sql).all(runId) : db.prepare(sql).all()) as never;
  } finally {
    db.close();
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'flow-matrix-e2e-'));
  recipe = join(dir, 'sweep.yml');
  cache = join(dir, 'cache');
  copyFileSync(join(ROOT, 'tests/fixtures/experiments/sweep.yml'), recipe);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a matrix sweep through the real engine', () => {
  let first: string;

  it('expands to the variants left after exclude and runs the shared step once', () => {
    const { runId, events } = runRecipe();
    first = runId;
    const start = events.find((e) => e.type === 'run-start') as unknown as { steps: Array<{ id: string; variant?: object }> };
    expect(start.steps.map((s) => s.id).sort()).toEqual([
      'data',
      'eval[lora_rank=128,finetuning=lora]',
      'eval[lora_rank=32,finetuning=full]',
      'eval[lora_rank=32,finetuning=lora]',
      'train[lora_rank=128,finetuning=lora]',
      'train[lora_rank=32,finetuning=full]',
      'train[lora_rank=32,finetuning=lora]',
    ]);
    expect(start.steps.find((s) => s.id === 'data')!.variant).toBeUndefined();

    const recorded = executions(runId);
    expect(recorded.map((e) => [e.step_id, e.status, e.variant ? JSON.parse(e.variant) : null])).toEqual([
      ['data', 'done', null],
      ['eval[lora_rank=128,finetuning=lora]', 'done', { lora_rank: 128, finetuning: 'lora' }],
      ['eval[lora_rank=32,finetuning=full]', 'done', { lora_rank: 32, finetuning: 'full' }],
      ['eval[lora_rank=32,finetuning=lora]', 'done', { lora_rank: 32, finetuning: 'lora' }],
      ['train[lora_rank=128,finetuning=lora]', 'done', { lora_rank: 128, finetuning: 'lora' }],
      ['train[lora_rank=32,finetuning=full]', 'done', { lora_rank: 32, finetuning: 'full' }],
      ['train[lora_rank=32,finetuning=lora]', 'done', { lora_rank: 32, finetuning: 'lora' }],
    ]);
  });

  it('flow compare prints the EX table from the recorded metrics', () => {
    const r = flow('compare', '--cache-dir', cache);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    // The table block; the params, statistics and provenance blocks after it are tested in compare*.test.ts.
    expect(r.stdout.split('\n').slice(0, 5).concat('').join('\n')).toBe(
      [
        `EX by hardness, run ${first} (sweep-e2e); * best`,
        'variant                         easy   medium    hard   extra     all',
        'lora_rank=32 finetuning=full   0.682    0.566*  0.400*  0.208   0.482',
        'lora_rank=32 finetuning=lora   0.632    0.516   0.300   0.208   0.432',
        'lora_rank=128 finetuning=lora  0.728*   0.564   0.300   0.232*  0.528*',
        '',
      ].join('\n'),
    );
  });

  it('a second run is all cache hits, the data step still executed once, and --recipe compares across runs', () => {
    const { runId, events } = runRecipe();
    expect(events.at(-1)).toMatchObject({ type: 'run-end', counts: { done: 0, cached: 7 } });
    expect(executions(runId).every((e) => e.status === 'cached')).toBe(true);
    expect(executions().filter((e) => e.step_id === 'data').map((e) => e.status)).toEqual(['done', 'cached']);

    const csv = flow('compare', '--recipe', 'sweep-e2e', '--format', 'csv', '--cache-dir', cache);
    expect(csv.code).toBe(0);
    const lines = csv.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('label,run,recipe,step,easy,medium,hard,extra,all');
    expect(lines.slice(1)).toEqual([
      `lora_rank=32 finetuning=full,${runId},sweep-e2e,"eval[lora_rank=32,finetuning=full]",0.682,0.566,0.4,0.208,0.482`,
      `lora_rank=32 finetuning=lora,${runId},sweep-e2e,"eval[lora_rank=32,finetuning=lora]",0.632,0.516,0.3,0.208,0.432`,
      `lora_rank=128 finetuning=lora,${runId},sweep-e2e,"eval[lora_rank=128,finetuning=lora]",0.728,0.564,0.3,0.232,0.528`,
    ]);

    const json = flow('compare', '--metric', 'em', '--format', 'json', '--cache-dir', cache);
    expect(json.code).toBe(0);
    const table = JSON.parse(json.stdout);
    expect(table.columns).toEqual(['easy', 'all']);
    expect(table.rows.map((r: { cached: boolean; values: object }) => [r.cached, r.values])).toEqual([
      [true, { easy: 0.55, all: 0.332 }],
      [true, { easy: 0.5, all: 0.332 }],
      [true, { easy: 0.5, all: 0.428 }],
    ]);
  });
});
