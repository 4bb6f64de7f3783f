// RunFollower: a run another process drives, read back from a real store and
// real log files as engine events. The tmux test in tui-e2e.test.ts covers
// `flow attach` end to end; these cover what is hard to stage there.

import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { EngineEvent } from '../src/events.js';
import { RunFollower } from '../src/experiments/follow.js';
import { Chalk } from 'chalk';
import { RunState } from '../src/reporters/tui/state.js';
import { stepRowText } from '../src/reporters/tui/step-row.js';
import { openDb } from '../src/store/db.js';
import { ROOT, sandbox } from './helpers/cli.js';

function store() {
  const dir = mkdtempSync(join(tmpdir(), 'flow-follow-'));
  const db = openDb(join(dir, 'flow.db'));
  db.prepare(
    "INSERT INTO runs (id, recipe, name, status, started_at, params, argv, pid) VALUES ('r1', '/gone/recipe.yml', 'demo', 'running', 1000, '{}', '[\"run\"]', 4242)",
  ).run();
  const exec = (id: string, step: string, log: string) =>
    db
      .prepare("INSERT INTO executions (id, run_id, step_id, step_type, key, status, started_at, log_path, gpus) VALUES (?, 'r1', ?, 'run', ?, 'running', 1100, ?, '[]')")
      .run(id, step, `k-${step}`, log);
  return { dir, db, exec };
}

test('follows executions, log lines (whole lines only) and loss series, then the end of the run', () => {
  const { dir, db, exec } = store();
  const events: EngineEvent[] = [];
  const state = new RunState();
  const alive = new Set([4242]);
  const f = new RunFollower(db, 'r1', [{ id: 'train', type: 'run', needs: [], gpus: 0 }, { id: 'eval', type: 'run', needs: ['train'], gpus: 0 }], (e) => {
    events.push(e);
    state.apply(e);
  }, (pid) => alive.has(pid));
  const log = join(dir, 'train.log');
  writeFileSync(log, 'epoch 1\npartial');
  exec('e1', 'train', log);
  db.prepare("INSERT INTO metrics (exec_id, name, value, step, time) VALUES ('e1', 'loss', 2.5, 10, 1200), ('e1', 'loss', 1.5, 20, 1300)").run();
  expect(f.poll()).toBe(false);
  expect(state.row('train')!.status).toBe('running');
  expect(state.row('train')!.log.last(10).map((l) => l.text)).toEqual(['epoch 1']);
  expect(state.row('train')!.progress).toEqual({ current: 20, unit: 'steps', values: { loss: 1.5 } });
  expect(state.row('eval')!.status).toBe('pending');

  appendFileSync(log, ' line\nepoch 2\n');
  db.prepare("UPDATE executions SET status = 'done', ended_at = 2000, duration_ms = 900 WHERE id = 'e1'").run();
  db.prepare("UPDATE runs SET status = 'failed', ended_at = 2100 WHERE id = 'r1'").run();
  expect(f.poll()).toBe(true);
  expect(state.row('train')!.log.last(10).map((l) => l.text)).toEqual(['epoch 1', 'partial line', 'epoch 2']);
  expect(state.row('train')!.status).toBe('done');
  // Never started: skipped, since the run ended without it.
  expect(state.row('eval')!.status).toBe('skipped');
  expect(state.end).toEqual({ status: 'failed', durationMs: 1100, savedMs: 0, counts: { done: 1, cached: 0, failed: 0, cancelled: 0, skipped: 1 } });
  expect(events.filter((e) => e.type === 'run-end')).toHaveLength(1);
  expect(f.poll()).toBe(true);
  expect(events.filter((e) => e.type === 'run-end')).toHaveLength(1);
});

test('a run whose flow process is gone ends as failed, its running step crashed', () => {
  const { dir, db, exec } = store();
  const state = new RunState();
  const f = new RunFollower(db, 'r1', undefined, (e) => state.apply(e), () => false);
  exec('e1', 'train', join(dir, 'missing.log'));
  expect(f.poll()).toBe(true);
  // Steps unknown (recipe gone): the row comes from the execution.
  expect(state.order).toEqual(['train']);
  expect(state.row('train')!.status).toBe('failed');
  expect(state.row('train')!.error).toContain('crashed');
  expect(state.end!.status).toBe('failed');
  expect(state.warnings[0]).toContain('pid 4242');
});

test("attach shows the driver's row: the bar's total, its ETA and why the step runs, from the execution's kept progress", () => {
  const { dir, db, exec } = store();
  const state = new RunState();
  const f = new RunFollower(db, 'r1', [{ id: 'train', type: 'python:sft', needs: [], gpus: 0 }], (e) => state.apply(e), () => true);
  exec('e1', 'train', join(dir, 'train.log'));
  const keep = (current: number, time: number, loss: number) =>
    db.prepare("UPDATE executions SET progress = ? WHERE id = 'e1'").run(JSON.stringify({ current, total: 400, unit: 'steps', values: { loss }, time }));
  db.prepare("UPDATE executions SET reasons = ? WHERE id = 'e1'").run(JSON.stringify(['never ran']));
  // The series points the driver recorded (loss at steps 10..60), and its kept row at step 60.
  for (let step = 10; step <= 60; step += 10) db.prepare("INSERT INTO metrics (exec_id, name, value, step, time) VALUES ('e1', 'loss', ?, ?, ?)").run(3 - step / 100, step, 1000 + step * 1000);
  keep(60, 61_000, 2.4);
  f.poll();
  const row = state.row('train')!;
  expect(row.reasons).toEqual(['never ran']);
  expect(row.progress).toEqual({ current: 60, total: 400, unit: 'steps', values: { loss: 2.4 } });
  keep(120, 121_000, 1.8);
  f.poll();
  // One step a second: 280 steps left.
  const text = stepRowText(new Chalk({ level: 0 }), state.row('train')!, false, 121_000, { idWidth: 8, gpuWidth: 0, columns: 200 });
  expect(text).toMatch(/120\/400/);
  expect(text).toMatch(/ETA 4m 40s/);
  expect(text).not.toMatch(/\b120 steps\b/);
});

test('the driving process keeps each step\'s latest progress and reasons in its execution row', async () => {
  const s = sandbox();
  s.write('r.yml', `name: d\nsteps:\n  data:\n    uses: spider-sft\n    with: { spider: ${join(ROOT, 'data', 'spider-mini')} }\n`);
  expect((await s.flow(['run', 'r.yml', '--ui', 'json'])).code).toBe(0);
  const db = openDb(join(s.cache, 'flow.db'));
  try {
    const row = db.prepare("SELECT reasons, progress FROM executions WHERE step_id = 'data'").get() as { reasons: string; progress: string };
    expect(JSON.parse(row.reasons)).toEqual(['never ran']);
    // spider-mini: 177 train and 58 dev items; the last report (235 of 235) is always kept.
    expect(JSON.parse(row.progress)).toMatchObject({ current: 235, total: 235, unit: 'items' });
  } finally {
    db.close();
  }
});
