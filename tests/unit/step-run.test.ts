// StepRun: each transition writes the record, emits the event and counts, together;
// a transition the lifecycle does not allow is an internal error.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { EngineEvent } from '../../src/events.js';
import { RunTally } from '../../src/scheduler/step-run.js';
import { openDb } from '../../src/store/db.js';
import { Records } from '../../src/store/records.js';

function setup() {
  const db = openDb(join(mkdtempSync(join(tmpdir(), 'flow-steprun-')), 'flow.db'));
  const records = new Records(db);
  records.createRun({ id: 'run1', recipe: '/r.yml', name: 'r', params: {}, argv: [] });
  const events: EngineEvent[] = [];
  const tally = new RunTally('run1', records, (e) => events.push(e));
  return { records, events, tally };
}

const fp = { v: 1, type: 'run', impl: {}, fields: {}, params: {}, env: {}, inputs: {}, upstream: {} };

it('queued -> start -> done records the execution, emits in order and counts once', () => {
  const { records, events, tally } = setup();
  const run = tally.step('a', 'run');
  run.queued();
  run.start({ execId: 'e1', key: 'k1', fingerprint: fp, reasons: ['never ran'], gpus: [], logPath: '/l' });
  expect(records.executions('run1')[0]).toMatchObject({ id: 'e1', status: 'running', key: 'k1' });
  run.metric('ex', 0.5);
  run.done({ key: 'k1', outputs: { out: '/o' }, metrics: { ex: 0.5 } });
  expect(events.map((e) => e.type)).toEqual(['step-queued', 'step-start', 'step-metric', 'step-done']);
  expect(records.executions('run1')[0]).toMatchObject({ status: 'done', outputs: JSON.stringify({ out: '/o' }) });
  expect(tally.counts).toEqual({ done: 1, cached: 0, failed: 0, cancelled: 0, skipped: 0 });
});

it('failed carries its reason into the event and the record', () => {
  const { records, events, tally } = setup();
  const run = tally.step('a', 'run');
  run.queued();
  run.start({ execId: 'e1', key: 'k1', fingerprint: fp, reasons: [], gpus: [], logPath: '/l' });
  run.failed({ reason: 'exit-code', message: 'command exited with code 3\nmore', exitCode: 3, logPath: '/l' });
  expect(events.at(-1)).toMatchObject({ type: 'step-failed', reason: 'exit-code', exitCode: 3, error: 'command exited with code 3' });
  expect(records.executions('run1')[0]).toMatchObject({ status: 'failed', exit_code: 3 });
  expect(tally.counts.failed).toBe(1);
});

it('cancel of a running step records it; skip and cancel of a pending one emit without a record', () => {
  const { records, events, tally } = setup();
  const a = tally.step('a', 'run');
  a.queued();
  a.start({ execId: 'e1', key: 'k1', fingerprint: fp, reasons: [], gpus: [], logPath: '/l' });
  a.cancelled();
  tally.step('b', 'run').skipped('upstream a cancelled');
  tally.step('c', 'run').cancelled();
  expect(records.executions('run1').map((e) => e.status)).toEqual(['cancelled']);
  expect(events.slice(-3).map((e) => e.type)).toEqual(['step-cancelled', 'step-skipped', 'step-cancelled']);
  expect(tally.counts).toMatchObject({ cancelled: 2, skipped: 1 });
});

it('refuses transitions the lifecycle does not have', () => {
  const { tally } = setup();
  const run = tally.step('a', 'run');
  expect(() => run.done({ key: 'k', outputs: {} })).toThrow(/cannot go from pending to done/);
  run.skipped('x');
  expect(() => run.queued()).toThrow(/cannot go from skipped to queued/);
  expect(tally.counts.done).toBe(0);
});
