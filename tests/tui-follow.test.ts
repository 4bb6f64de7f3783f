// RunFollower: a run another process drives, read back from a real store and
// real log files as engine events. The tmux test in tui-e2e.test.ts covers
// `flow attach` end to end; these cover what is hard to stage there.

import { appendFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { EngineEvent } from '../src/events.js';
import { RunFollower } from '../src/experiments/follow.js';
import { RunState } from '../src/reporters/tui/state.js';
import { openDb } from '../src/store/db.js';

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
