// `flow plan` reads the last good fingerprint of many steps in one query
// (Records.lastFingerprintsJson); it must pick, for every step, the very row the
// one-step query picks: latest start, the later row on a tie, good statuses only,
// this recipe name only.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { openDb } from '../../src/store/db.js';
import { Records } from '../../src/store/records.js';

it('the batch query agrees with the per-step query on every step', () => {
  const db = openDb(join(mkdtempSync(join(tmpdir(), 'flow-lastfp-')), 'flow.db'));
  const records = new Records(db);
  const run = db.prepare("INSERT INTO runs (id, recipe, name, status, started_at, params, argv, pid) VALUES (?, '/r.yml', ?, 'done', ?, '{}', '[]', 1)");
  const exec = db.prepare("INSERT INTO executions (id, run_id, step_id, step_type, status, started_at, fingerprint) VALUES (?, ?, ?, 'run', ?, ?, ?)");
  run.run('r1', 'mine', 1);
  run.run('r2', 'mine', 2);
  run.run('o1', 'other', 3);
  let n = 0;
  const add = (runId: string, step: string, status: string, at: number, fp: string | null) => exec.run(`e${n++}`, runId, step, status, at, fp);
  add('r1', 'a', 'done', 10, '{"v":"a-old"}');
  add('r2', 'a', 'cached', 20, '{"v":"a-new"}');
  add('r2', 'a', 'failed', 30, '{"v":"a-failed"}'); // not good: ignored
  add('o1', 'a', 'done', 40, '{"v":"a-other-recipe"}'); // another recipe: ignored
  add('r1', 'b', 'done', 15, '{"v":"b-first"}');
  add('r2', 'b', 'done', 15, '{"v":"b-tie-later-row"}'); // same start: the later row wins
  add('r2', 'c', 'done', 50, null); // no fingerprint: ignored
  add('r1', 'c', 'done', 5, '{"v":"c"}');
  add('r2', 'd', 'running', 60, '{"v":"d"}'); // never finished: no good execution

  const all = records.lastFingerprintsJson('mine');
  for (const step of ['a', 'b', 'c', 'd', 'e']) {
    const one = records.lastFingerprint(`mine`, step);
    expect(all.has(step) ? JSON.parse(all.get(step)!) : undefined, step).toEqual(one);
  }
  expect(Object.fromEntries(all)).toEqual({ a: '{"v":"a-new"}', b: '{"v":"b-tie-later-row"}', c: '{"v":"c"}' });
  db.close();
});
