// The TUI's run model and text helpers: bounded memory under log floods, and
// the recorded event streams the component tests rely on being valid.

import { readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { EngineEvent } from '../src/events.js';
import { formatDuration, progressBar, sanitizeLogLine, sparkline } from '../src/reporters/tui/format.js';
import { DownsampledSeries, LOG_TAIL_LINES, LogTail, RunState, progressRate } from '../src/reporters/tui/state.js';
import { EVENTS_DIR, readEvents } from './helpers/replay.js';

const TERMINAL = new Set(['step-cached', 'step-done', 'step-failed', 'step-cancelled', 'step-skipped']);
const DURING = new Set(['step-log', 'step-progress', 'step-metric', 'step-artifact']);

/** Checks what the engine promises about a stream; returns the problems found. */
function sequenceProblems(events: EngineEvent[]): string[] {
  const problems: string[] = [];
  const first = events[0];
  if (first?.type !== 'run-start') return ['first event is not run-start'];
  const ids = new Set(first.steps.map((s) => s.id));
  const started = new Set<string>();
  const finished = new Map<string, string>();
  let lastTime = 0;
  events.forEach((e, i) => {
    const at = `event ${i + 1} (${e.type})`;
    if (e.time < lastTime) problems.push(`${at}: time goes back`);
    lastTime = e.time;
    if ('runId' in e && e.runId !== first.runId) problems.push(`${at}: runId ${e.runId}`);
    if (e.type === 'run-end' && i !== events.length - 1) problems.push(`${at}: run-end is not last`);
    if (!('step' in e) || e.step === undefined || e.type === 'warning') return;
    if (!ids.has(e.step)) problems.push(`${at}: unknown step ${e.step}`);
    if (finished.has(e.step)) problems.push(`${at}: ${e.step} already ${finished.get(e.step)}`);
    if (e.type === 'step-start') started.add(e.step);
    if (DURING.has(e.type) && !started.has(e.step)) problems.push(`${at}: ${e.step} not started`);
    if (TERMINAL.has(e.type)) finished.set(e.step, e.type);
    if ((e.type === 'step-done' || e.type === 'step-failed') && !started.has(e.step)) {
      problems.push(`${at}: ${e.step} ends without starting`);
    }
  });
  const end = events[events.length - 1];
  if (end?.type === 'run-end') {
    const count = (t: string) => [...finished.values()].filter((v) => v === t).length;
    const expected = {
      done: count('step-done'),
      cached: count('step-cached'),
      failed: count('step-failed'),
      cancelled: count('step-cancelled'),
      skipped: count('step-skipped'),
    };
    if (JSON.stringify(expected) !== JSON.stringify(end.counts)) problems.push(`run-end counts ${JSON.stringify(end.counts)} != ${JSON.stringify(expected)}`);
    if (finished.size !== ids.size) problems.push(`run ends with ${ids.size - finished.size} steps unfinished`);
    const saved = events.reduce((s, e) => s + (e.type === 'step-cached' ? e.savedMs : 0), 0);
    if (saved !== end.savedMs) problems.push(`run-end savedMs ${end.savedMs} != ${saved}`);
  }
  return problems;
}

describe('recorded event streams', () => {
  const files = readdirSync(EVENTS_DIR).filter((f) => f.endsWith('.ndjson'));
  test('cover running, failed, cancelled and cached-only runs', () => {
    expect(files.sort()).toEqual(['cached.ndjson', 'cancelled.ndjson', 'failed.ndjson', 'running.ndjson']);
  });
  test.each(files)('%s is a valid EngineEvent sequence', (f) => {
    expect(sequenceProblems(readEvents(f))).toEqual([]);
  });
  test('the checker catches a broken stream', () => {
    const events = readEvents('failed.ndjson');
    const broken = events.filter((e) => e.type !== 'step-start');
    expect(sequenceProblems(broken).length).toBeGreaterThan(0);
  });
});

describe('RunState under a log flood', () => {
  test('memory per step stays bounded while counts stay exact', () => {
    const run = new RunState();
    run.apply({ type: 'run-start', runId: 'r', recipe: 'x.yml', name: 'x', steps: [{ id: 'train', type: 'run', needs: [], gpus: 0 }], time: 0 });
    run.apply({ type: 'step-start', runId: 'r', step: 'train', key: 'k', execId: 'e', reasons: [], gpus: [], logPath: '/dev/null', time: 0 });
    for (let i = 1; i <= 100_000; i++) {
      run.apply({ type: 'step-log', runId: 'r', step: 'train', stream: 'stdout', line: `line ${i}`, time: i });
      if (i % 10 === 0) run.apply({ type: 'step-progress', runId: 'r', step: 'train', progress: { current: i, total: 100_000, unit: 'lines', values: { loss: 1 / i } }, time: i });
    }
    const row = run.row('train')!;
    expect(row.log.total).toBe(100_000);
    expect(row.log.last(1_000_000)).toHaveLength(LOG_TAIL_LINES);
    expect(row.log.last(2).map((l) => l.text)).toEqual(['line 99999', 'line 100000']);
    expect(row.loss.length).toBeLessThanOrEqual(65);
    expect(progressRate(row)).toBeCloseTo(1000, 5);
  });

  test('LogTail keeps the newest lines', () => {
    const t = new LogTail(3);
    for (let i = 0; i < 10; i++) t.push({ stream: 'stdout', text: String(i) });
    expect(t.last(5).map((l) => l.text)).toEqual(['7', '8', '9']);
    expect(t.last(2).map((l) => l.text)).toEqual(['8', '9']);
  });

  test('DownsampledSeries spans the whole series in bounded buckets', () => {
    const s = new DownsampledSeries(8);
    for (let i = 0; i < 1000; i++) s.push(i);
    const v = s.values();
    expect(v.length).toBeLessThanOrEqual(9);
    expect(v[0]!).toBeLessThan(100);
    expect(v[v.length - 1]!).toBeGreaterThan(900);
  });

  test('the rate is smoothed: a few slow seconds do not swing it (or the ETA) to the slow value', () => {
    const run = new RunState();
    run.apply({ type: 'run-start', runId: 'r', recipe: 'x', name: 'x', steps: [{ id: 's', type: 'run', needs: [], gpus: 0 }], time: 0 });
    let current = 0;
    const at = (t: number) => run.apply({ type: 'step-progress', runId: 'r', step: 's', progress: { current, total: 100_000 }, time: t * 1000 });
    for (let t = 0; t <= 30; t++, current += 100) at(t);
    current -= 100;
    expect(progressRate(run.row('s')!)).toBeCloseTo(100, 5);
    // Five seconds at 10/s (a checkpoint save, an eval pause).
    for (let t = 31; t <= 35; t++) {
      current += 10;
      at(t);
    }
    const rate = progressRate(run.row('s')!)!;
    expect(rate).toBeGreaterThan(75);
    expect(rate).toBeLessThan(100);
  });

  test('a step restarting its counter does not produce a negative rate', () => {
    const run = new RunState();
    run.apply({ type: 'run-start', runId: 'r', recipe: 'x', name: 'x', steps: [{ id: 's', type: 'run', needs: [], gpus: 0 }], time: 0 });
    run.apply({ type: 'step-progress', runId: 'r', step: 's', progress: { current: 500 }, time: 1000 });
    run.apply({ type: 'step-progress', runId: 'r', step: 's', progress: { current: 10 }, time: 2000 });
    run.apply({ type: 'step-progress', runId: 'r', step: 's', progress: { current: 30 }, time: 3000 });
    expect(progressRate(run.row('s')!)).toBe(20);
  });
});

describe('text helpers', () => {
  test('durations', () => {
    expect(formatDuration(45)).toBe('45ms');
    expect(formatDuration(12_340)).toBe('12.3s');
    expect(formatDuration(245_000)).toBe('4m 5s');
    expect(formatDuration(7_380_000)).toBe('2h 3m');
  });
  test('bars and sparklines have the width asked for', () => {
    expect(progressBar(0.5, 10)).toBe('█████░░░░░');
    expect(progressBar(2, 4)).toBe('████');
    expect(progressBar(0.01, 4)).toHaveLength(4);
    expect(sparkline([3, 2, 1], 10)).toBe('█▅▁');
    expect(sparkline(Array.from({ length: 100 }, (_, i) => 100 - i), 16)).toHaveLength(16);
  });
  test('log lines lose what would move the cursor', () => {
    expect(sanitizeLogLine('\u001B[31mred\u001B[0m\tx')).toBe('red    x');
    expect(sanitizeLogLine(' 10%|#  \r 50%|#####\r')).toBe(' 50%|#####');
  });
});
