// Component tests of the TUI reporter: the real ink app and controller, driven
// by recorded engine event streams (tests/fixtures/events) and keystrokes.

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chalk } from 'chalk';
import { afterEach, describe, expect, test } from 'vitest';
import { colorLine } from '../src/reporters/tui/failure.js';
import type { EngineEvent, NextAction } from '../src/events.js';
import { KEYS, mountTui, splitAtRunEnd, type Harness } from './helpers/tui-harness.js';

let h: Harness | undefined;
afterEach(() => {
  h?.unmount();
  h = undefined;
});

/** Resolves to the action, or 'pending' if nextAction has not resolved by the next ticks. */
async function settled(p: Promise<NextAction>): Promise<NextAction | 'pending'> {
  return Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 50))]);
}

const plain = (s: string) => s.replace(/\u001B\[[0-9;]*m/g, '');

/** The table row of `step`, colours removed. */
function rowOf(frame: string, step: string): string {
  const line = frame
    .split('\n')
    .map(plain)
    .find((l) => /^[▸ ] \S /.test(l) && l.slice(4).startsWith(`${step} `));
  if (!line) throw new Error(`no row for ${step} in:\n${frame}`);
  return line;
}

describe('running run', () => {
  test('rows follow run-start order with status, time, cache, GPU and progress', async () => {
    h = await mountTui('running.ndjson');
    await h.send(h.events);
    const f = h.frame();
    const ids = ['data', 'train[lora_rank=8]', 'train[lora_rank=32]', 'predict[lora_rank=8]', 'eval[lora_rank=8]'];
    const positions = ids.map((id) => f.indexOf(` ${id} `));
    expect(positions.every((p) => p > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);

    expect(rowOf(f, 'data')).toMatch(/cached\s+hit\s.*saved 42m/);
    const train = rowOf(f, 'train[lora_rank=8]');
    // 6 s since step-start on the replay clock; GPU 0; 600 of 1000 steps at 100 steps/s => ETA 4 s.
    expect(train).toMatch(/running\s+\d+\.\ds\s+miss\s+0\s/);
    expect(train).toContain('600/1,000');
    expect(train).toContain('ETA 4.0s');
    // Six loss points: too few for a sparkline to mean anything.
    expect(train).toMatch(/loss 0\.7322  100 s/);
    expect(train).not.toMatch(/[▁▂▃▄▅▆▇]/);
    expect(rowOf(f, 'train[lora_rank=32]')).toContain('queued');
    expect(rowOf(f, 'predict[lora_rank=8]')).toMatch(/pending\s+no cached result for this key/);
    expect(f).toMatch(/flow spider-lora\s+running/);
    expect(f).toContain('⚠ train[lora_rank=32]: waiting for a free GPU');
  });

  test('the log pane tails the step that started last until the user selects another', async () => {
    h = await mountTui('running.ndjson');
    await h.send(h.events);
    expect(h.frame()).toContain('── log: train[lora_rank=8] · 8 lines');
    expect(h.frame()).toContain("{'loss': 0.7322, 'step': 600}");
    await h.press('j');
    expect(rowOf(h.frame(), 'train[lora_rank=32]')).toContain('▸');
    expect(h.frame()).toContain('── log: train[lora_rank=32] · 0 lines');
    expect(h.frame()).toContain('(no output yet)');
    await h.press(KEYS.up, 'k');
    expect(h.frame()).toContain('── log: data · 0 lines');
    expect(rowOf(h.frame(), 'data')).toContain('▸');
    // Selection stops at the ends.
    await h.press('k');
    expect(rowOf(h.frame(), 'data')).toContain('▸');
    await h.press(KEYS.down);
    expect(h.frame()).toContain('── log: train[lora_rank=8]');
  });

  test('keys arriving in one read are each acted on', async () => {
    h = await mountTui('running.ndjson');
    await h.send(h.events);
    await h.press('jj');
    expect(rowOf(h.frame(), 'predict[lora_rank=8]')).toContain('▸');
  });

  test('enter opens the full log from the log file, scrollable; esc returns', async () => {
    h = await mountTui('running.ndjson');
    await h.send(h.events);
    await h.press(KEYS.enter);
    let f = h.frame();
    expect(f).toContain('train[lora_rank=8] · full log · lines 1-8 of 8 · following · running');
    expect(f).toContain('train[lora_rank=8]: line 1');
    expect(f).toContain("{'loss': 0.7322, 'step': 600}");
    // More lines than a page: the view sticks to the end and scrolls back.
    const more: EngineEvent[] = Array.from({ length: 100 }, (_, i) => ({
      type: 'step-log',
      runId: 'r-20231114-001',
      step: 'train[lora_rank=8]',
      stream: 'stdout',
      line: `extra ${i + 1}`,
      time: h!.ctl.run.lastEventTime + i,
    }));
    await h.send(more);
    await h.press('G');
    f = h.frame();
    expect(f).toMatch(/lines \d+-108 of 108 · following/);
    expect(f).toContain('extra 100');
    await h.press('g');
    f = h.frame();
    expect(f).toMatch(/lines 1-\d+ of 108 · running/);
    expect(f).toContain('train[lora_rank=8]: line 1');
    expect(f).not.toContain('extra 100');
    await h.press('j');
    expect(h.frame()).toMatch(/lines 2-\d+ of 108/);
    await h.press(KEYS.escape);
    expect(h.frame()).toContain('── log: train[lora_rank=8]');
    await h.press('l');
    expect(h.frame()).toContain('full log');
    await h.press('q');
    expect(h.frame()).toContain('── log: train[lora_rank=8]');
    // q in the log view only closes the view: no quit prompt.
    expect(h.frame()).not.toContain('Cancel it and quit?');
  });

  test('? shows the keys, any key closes the help', async () => {
    h = await mountTui('running.ndjson');
    await h.send(h.events);
    await h.press('?');
    expect(h.frame()).toContain('── keys');
    expect(h.frame()).toContain('re-run the selected step');
    await h.press('x');
    expect(h.frame()).toContain('STATUS');
  });
});

describe('failed run', () => {
  test('failed, cancelled and skipped rows and the summary', async () => {
    h = await mountTui('failed.ndjson');
    await h.send(h.events);
    const f = h.frame();
    expect(rowOf(f, 'data')).toMatch(/done\s+\d+ms\s+miss/);
    // The exit code is said once: "exit 1", not "exit 1: exited with code 1".
    expect(rowOf(f, 'train[lora_rank=8]')).toMatch(/failed\s+2\.0s\s+miss\s+0\s+exit 1 · torch\.OutOfMemoryError/);
    expect(f).not.toContain('exited with code');
    expect(rowOf(f, 'train[lora_rank=32]')).toContain('cancelled');
    expect(rowOf(f, 'predict[lora_rank=8]')).toMatch(/skipped\s+train\[lora_rank=8\] failed/);
    expect(f).toContain('── summary');
    expect(f).toContain('Run failed in 2.2s · 1 ran · 0 cached · 1 failed · 1 cancelled · 2 skipped');
    expect(f).toContain('✖ train[lora_rank=8]: exit 1 · torch.OutOfMemoryError');
    expect(f).toMatch(/log: \S+train\[lora_rank=8\]\.log/);
    expect(f).toContain('Run finished: r re-runs the selected step, q quits.');
    await h.press(KEYS.enter);
    expect(h.frame()).toContain('torch.OutOfMemoryError: CUDA out of memory.');
    expect(h.frame()).toContain('full log · lines 1-5 of 5');
  });

  test('r pressed during the run is remembered and handed over after run-end', async () => {
    h = await mountTui('failed.ndjson');
    const [during, end] = splitAtRunEnd(h.events);
    await h.send(during);
    await h.press('k'); // data
    await h.press('r');
    expect(h.frame()).toContain('data will re-run when this run ends');
    const next = h.ctl.nextAction();
    expect(await settled(next)).toBe('pending');
    await h.send(end);
    expect(await settled(next)).toEqual({ type: 'rerun', step: 'data' });
    expect(h.frame()).toContain('Re-running data…');

    // The re-run: a new run-start resets the rows, selection stays on the step.
    const rerun = h.events.filter((e) => e.type === 'run-start' || e.type === 'plan');
    await h.send(rerun.map((e) => ({ ...e, runId: 'r2' }) as EngineEvent));
    const f = h.frame();
    expect(f).toMatch(/flow spider-lora\s+running/);
    expect(rowOf(f, 'train[lora_rank=8]')).toContain('pending');
    expect(rowOf(f, 'data')).toContain('▸');
    expect(f).not.toContain('── summary');
  });

  test('r after the run resolves at once; q after the run quits without asking', async () => {
    h = await mountTui('failed.ndjson');
    await h.send(h.events);
    const first = h.ctl.nextAction();
    await h.press('r');
    expect(await settled(first)).toEqual({ type: 'rerun', step: 'train[lora_rank=8]' });
    await h.send(h.events.map((e) => ({ ...e, runId: 'r2' }) as EngineEvent));
    const second = h.ctl.nextAction();
    expect(await settled(second)).toBe('pending');
    await h.press('q');
    expect(await settled(second)).toEqual({ type: 'quit' });
    expect(h.cancels()).toBe(0);
  });
});

describe('cancelling', () => {
  test('c asks, n keeps the run, y cancels it once through RunControl', async () => {
    h = await mountTui('cancelled.ndjson');
    const [during, end] = splitAtRunEnd(h.events);
    await h.send(during.slice(0, 12));
    await h.press('c');
    expect(h.frame()).toContain('Cancel the run? [y/N]');
    await h.press('n');
    expect(h.frame()).not.toContain('Cancel the run?');
    expect(h.cancels()).toBe(0);
    await h.press('c', 'y');
    expect(h.cancels()).toBe(1);
    expect(h.frame()).toContain('Cancelling the run…');
    await h.press('c', 'y');
    expect(h.cancels()).toBe(1);
    await h.send([...during.slice(12), ...end]);
    const f = h.frame();
    expect(rowOf(f, 'train[lora_rank=8]')).toMatch(/cancelled\s+3\.1s\s+miss/);
    expect(rowOf(f, 'eval[lora_rank=8]')).toMatch(/skipped\s+run cancelled/);
    expect(f).toContain('Run cancelled in 3.2s · 0 ran · 1 cached · 0 failed · 2 cancelled · 2 skipped · cache saved 42m');
    await h.press('c');
    expect(h.frame()).toContain('No run is active.');
  });

  test('q during a run asks; y cancels and quit is handed over once run-end arrives', async () => {
    h = await mountTui('cancelled.ndjson');
    const [during, end] = splitAtRunEnd(h.events);
    await h.send(during.slice(0, 12));
    await h.press('q');
    expect(h.frame()).toContain('A run is active. Cancel it and quit? [y/N]');
    await h.press(KEYS.escape);
    expect(h.cancels()).toBe(0);
    await h.press('q', 'y');
    expect(h.cancels()).toBe(1);
    expect(h.frame()).toContain('quitting when it stops');
    const next = h.ctl.nextAction();
    // A re-run asked for after quitting does not override the quit.
    await h.press('r');
    expect(await settled(next)).toBe('pending');
    await h.send([...during.slice(12), ...end]);
    expect(await settled(next)).toEqual({ type: 'quit' });
  });

  test('ctrl-c quits without asking and cancels an active run', async () => {
    h = await mountTui('running.ndjson');
    await h.send(h.events);
    await h.press(KEYS.ctrlC);
    expect(h.cancels()).toBe(1);
    const next = h.ctl.nextAction();
    await h.send([
      { type: 'run-end', runId: 'r-20231114-001', status: 'cancelled', durationMs: 7000, savedMs: 0, counts: { done: 0, cached: 1, failed: 0, cancelled: 2, skipped: 2 }, time: h.ctl.run.lastEventTime + 1 },
    ]);
    expect(await settled(next)).toEqual({ type: 'quit' });
  });
});

describe('cached-only run', () => {
  test('every row a cache hit, time saved, and the EX/EM table by hardness', async () => {
    h = await mountTui('cached.ndjson');
    await h.send(h.events);
    const f = h.frame();
    for (const id of ['data', 'train[lora_rank=8]', 'train[lora_rank=32]', 'predict[lora_rank=8]', 'eval[lora_rank=8]']) {
      expect(rowOf(f, id)).toMatch(/cached\s+hit/);
    }
    expect(f).toContain('0 ran · 5 cached');
    expect(f).toContain('cache saved 3h 30m');
    expect(f).toMatch(/metrics\s+easy\s+medium\s+hard\s+extra\s+all/);
    expect(f).toMatch(/eval\[lora_rank=8\]\s+count\s+248\s+446\s+174\s+166\s+1034/);
    expect(f).toMatch(/\n\s+EX\s+0\.871\s+0\.713\s+0\.569\s+0\.398\s+0\.676/);
    expect(f).toMatch(/\n\s+EM\s+0\.819\s+0\.646\s+0\.466\s+0\.301\s+0\.602/);
    expect(f).toContain('(cached: the step did not run)');
    await h.press('l');
    expect(h.frame()).toContain('cached in this run: no log was written');
  });
});

describe('colour', () => {
  test('off: no escape sequences; on: status colours', async () => {
    h = await mountTui('failed.ndjson', { color: false });
    await h.send(h.events);
    expect(h.frame()).not.toContain('\u001B[');
    h.unmount();
    h = await mountTui('failed.ndjson', { color: true });
    await h.send(h.events);
    expect(h.frame()).toContain('\u001B[31m'); // red for the failed step
    expect(h.frame()).toContain('\u001B[32m'); // green for the done step
  });
});

// --- issue 11: the TUI ends with the run, failures in front, fits the width ---

const T = 1_700_000_000_000;
function ev<E extends EngineEvent['type']>(type: E, fields: Record<string, unknown>, dt: number): EngineEvent {
  return { type, runId: 'r', time: T + dt, ...fields } as unknown as EngineEvent;
}
const info = (id: string, variant?: Record<string, unknown>) => ({ id, type: 'run', needs: [], gpus: 0, ...(variant ? { variant } : {}) });
const endEvent = (status: 'done' | 'failed', counts: Partial<Record<'done' | 'cached' | 'failed' | 'cancelled' | 'skipped', number>>, dt: number) =>
  ev('run-end', { status, durationMs: dt, savedMs: 0, counts: { done: 0, cached: 0, failed: 0, cancelled: 0, skipped: 0, ...counts } }, dt);

describe('the end of a run', () => {
  test('without --stay the run-end hands over quit at once', async () => {
    h = await mountTui('cached.ndjson', { stay: false });
    const [during, end] = splitAtRunEnd(h.events);
    await h.send(during);
    const next = h.ctl.nextAction();
    expect(await settled(next)).toBe('pending');
    await h.send(end);
    expect(await settled(next)).toEqual({ type: 'quit' });
  });

  test('s during the run keeps the TUI open after it', async () => {
    h = await mountTui('cached.ndjson', { stay: false });
    const [during, end] = splitAtRunEnd(h.events);
    await h.send(during);
    await h.press('s');
    expect(h.frame()).toContain('Will stay open after the run');
    const next = h.ctl.nextAction();
    await h.send(end);
    expect(await settled(next)).toBe('pending');
    await h.press('q');
    expect(await settled(next)).toEqual({ type: 'quit' });
  });

  test('a queued re-run keeps its notice through other prompts, and the finished run stays listed', async () => {
    h = await mountTui('failed.ndjson');
    const [during, end] = splitAtRunEnd(h.events);
    await h.send(during);
    await h.press('k', 'r');
    await h.press('c', 'n');
    expect(h.frame()).toContain('data will re-run when this run ends');
    const next = h.ctl.nextAction();
    await h.send(end);
    expect(await settled(next)).toEqual({ type: 'rerun', step: 'data' });
    const rerun = h.events.filter((e) => e.type === 'run-start' || e.type === 'plan');
    await h.send(rerun.map((e) => ({ ...e, runId: 'r2' }) as EngineEvent));
    expect(h.frame()).toMatch(/earlier: run r-20231114-001 failed in 2\.2s: 1 ran · 0 cached · 1 failed · 1 cancelled · 2 skipped/);
  });
});

function withTempLogs(events: EngineEvent[]): EngineEvent[] {
  return events.map((e) =>
    e.type === 'step-start' || e.type === 'step-failed' ? { ...e, logPath: join(tmpdir(), `flow-tui-${process.pid}-${e.step}.log`) } : e,
  );
}

describe('a failure in front', () => {
  const failing: EngineEvent[] = [
    ev('run-start', { recipe: 'x.yml', name: 'x', steps: [info('prep'), info('slow'), info('after')] }, 0),
    ev('step-start', { step: 'prep', key: 'k1', execId: 'e1', reasons: [], gpus: [], logPath: 'prep.log' }, 1),
    ev('step-start', { step: 'slow', key: 'k2', execId: 'e2', reasons: [], gpus: [], logPath: 'slow.log' }, 2),
    ev('step-log', { step: 'prep', stream: 'stdout', line: 'reading input' }, 3),
    ev('step-log', { step: 'prep', stream: 'stderr', line: 'Traceback (most recent call last):' }, 4),
    ev('step-log', { step: 'prep', stream: 'stderr', line: 'ValueError: column "qid" missing' }, 5),
    ev('step-failed', { step: 'prep', durationMs: 10, exitCode: 1, error: 'command exited with code 1', logPath: 'prep.log' }, 6),
    // A sibling that starts after the failure must not take the selection.
    ev('step-start', { step: 'after', key: 'k3', execId: 'e3', reasons: [], gpus: [], logPath: 'after.log' }, 7),
    ev('step-log', { step: 'slow', stream: 'stdout', line: 'UserWarning: padding side' }, 8),
  ];

  test('the failed step is selected, its last stderr lines and log path are shown, whatever else runs', async () => {
    h = await mountTui('cached.ndjson', { color: true });
    await h.send(withTempLogs(failing));
    const f = h.frame();
    expect(rowOf(f, 'prep')).toContain('▸');
    expect(rowOf(f, 'prep')).toContain('exit 1 · ValueError: column "qid" missing');
    expect(f).not.toContain('exited with code');
    expect(f).toContain('── log: prep');
    expect(plain(f)).toMatch(/1 failed/);
    await h.send([
      ev('step-done', { step: 'slow', key: 'k2', durationMs: 9, outputs: {} }, 9),
      ev('step-done', { step: 'after', key: 'k3', durationMs: 2, outputs: {} }, 10),
      endEvent('failed', { done: 2, failed: 1 }, 11),
    ]);
    const g = h.frame();
    expect(rowOf(g, 'prep')).toContain('▸');
    expect(g).toContain('✖ prep: exit 1');
    expect(g).toContain('ValueError: column "qid" missing');
    expect(g).toMatch(/log: \S*prep\.log/);
    // A finished step that printed nothing says so, without "yet".
    await h.press('j', 'j');
    expect(h.frame()).toContain('(no output)');
    expect(h.frame()).not.toContain('(no output yet)');
  });

  test('error lines are red and warnings yellow, whichever stream they came on', () => {
    const c = new Chalk({ level: 1 });
    expect(colorLine(c, 'ValueError: column "qid" missing')).toBe(c.red('ValueError: column "qid" missing'));
    expect(colorLine(c, 'Traceback (most recent call last):')).toBe(c.red('Traceback (most recent call last):'));
    expect(colorLine(c, 'UserWarning: padding side')).toBe(c.yellow('UserWarning: padding side'));
    expect(colorLine(c, 'step 10 loss 0.5')).toBe('step 10 loss 0.5');
  });

  test('a running step without progress says starting…', async () => {
    h = await mountTui('cached.ndjson', { color: true });
    const events = withTempLogs(failing);
    await h.send(events.slice(0, 3));
    expect(rowOf(h.frame(), 'slow')).toContain('starting…');
    await h.send(events.slice(3));
    expect(rowOf(h.frame(), 'slow')).toContain('starting…');
  });
});

describe('width', () => {
  const axes = [
    { lora_rank: 32, finetuning: 'lora', model: '/models/Qwen2.5-Coder-7B-Instruct' },
    { lora_rank: 128, finetuning: 'lora', model: '/models/Qwen2.5-Coder-7B-Instruct' },
    { lora_rank: 32, finetuning: 'full', model: '/models/Qwen2.5-Coder-7B-Instruct' },
  ];
  const id = (base: string, v: Record<string, unknown>) => `${base}[${Object.entries(v).map(([k, x]) => `${k}=${x}`).join(',')}]`;
  const evalIds = axes.map((v) => id('evaluate_predictions', v));
  const metrics = (b: number) => ({
    count: { easy: 248, medium: 446, hard: 174, extra: 166, all: 1034 },
    ex: { easy: 0.8 + b, medium: 0.7, hard: 0.5, extra: 0.3, all: 0.6 + b },
    em: { easy: 0.7, medium: 0.6, hard: 0.4, extra: 0.2, all: 0.5 + b },
  });
  const sweep: EngineEvent[] = [
    ev('run-start', { recipe: 'sweep.yml', name: 'sweep', steps: [info('data'), ...axes.map((v) => info(id('train', v), v)), ...axes.map((v, i) => info(evalIds[i]!, v))] }, 0),
    ...evalIds.flatMap((s, i) => [
      ev('step-summary', { step: s, table: { title: 'accuracy by hardness', columns: ['easy', 'medium', 'hard', 'extra', 'all'], rows: metrics(i / 100) } }, 1 + i),
      ev('step-done', { step: s, key: 'k', durationMs: 5, outputs: {}, metrics: metrics(i / 100) }, 1 + i),
    ]),
    endEvent('done', { done: 3 }, 10),
  ];

  test('at 80 columns sweep variants read differently and the EX/EM table keeps `all`', async () => {
    h = await mountTui('cached.ndjson', { columns: 80 });
    await h.send(sweep);
    const f = h.frame();
    const lines = f.split('\n');
    expect(lines.every((l) => l.length <= 80)).toBe(true);
    const trainRows = lines.filter((l) => /^[▸ ] \S train/.test(l)).map((l) => l.slice(4, 4 + 30).trim());
    expect(trainRows).toHaveLength(3);
    expect(new Set(trainRows).size).toBe(3);
    // Only the axes that differ are shown.
    expect(trainRows.join(' ')).not.toContain('model');
    expect(f).toMatch(/metrics\s.*\sall\s*$/m);
    expect(f).toMatch(/EX\s.*0\.620\s*$/m);
  });

  test('below 100 columns lr and tok/s go before anything else; big numbers are grouped', async () => {
    const progress = (n: number) =>
      ev('step-progress', { step: 'train', progress: { current: n * 10, total: 12620, unit: 'steps', values: { loss: 1 / n, lr: 0.0002, tokens_per_s: 12620 } } }, 1000 * n);
    const run = withTempLogs([
      ev('run-start', { recipe: 'x.yml', name: 'x', steps: [info('train')] }, 0),
      ev('step-start', { step: 'train', key: 'k', execId: 'e', reasons: [], gpus: [], logPath: 'train.log' }, 1),
      ...Array.from({ length: 12 }, (_, i) => progress(i + 1)),
    ]);
    h = await mountTui('cached.ndjson', { columns: 140 });
    await h.send(run);
    let row = rowOf(h.frame(), 'train');
    expect(row).toContain('/12,620');
    expect(row).toContain('12,620 tok/s');
    expect(row).toContain('lr 2.0e-4');
    expect(row).toContain('10 steps/s');
    expect(row).toMatch(/loss 0\.08333 [▁▂▃▄▅▆▇█]{8,}/);
    expect(row).not.toContain('e+');
    h.unmount();
    h = await mountTui('cached.ndjson', { columns: 90 });
    await h.send(run);
    row = rowOf(h.frame(), 'train');
    expect(row).toContain('ETA');
    expect(row).not.toContain('tok/s');
    expect(row).not.toContain('lr ');
    expect(row).not.toMatch(/[▁▂▃▄▅▆▇]/);
  });

  test('a step list longer than the screen says how many rows are hidden', async () => {
    const many = Array.from({ length: 40 }, (_, i) => info(`step${String(i).padStart(2, '0')}`));
    h = await mountTui('cached.ndjson');
    await h.send([ev('run-start', { recipe: 'x.yml', name: 'x', steps: many }, 0)]);
    expect(h.frame()).toMatch(/\+\d+ more \(\d+ below\)/);
  });
});

describe('full log view', () => {
  test('long lines wrap (w toggles) and / finds text, n the next match', async () => {
    h = await mountTui('failed.ndjson');
    const long = 'x'.repeat(150) + 'END';
    await h.send([
      ...h.events.slice(0, 3),
      ev('step-start', { step: 'data', key: 'k', execId: 'e', reasons: [], gpus: [], logPath: join(tmpdir(), `flow-wrap-${process.pid}.log`) }, 5),
      ...Array.from({ length: 60 }, (_, i) => ev('step-log', { step: 'data', stream: 'stdout', line: i === 10 ? long : `line ${i}${i % 20 === 7 ? ' needle' : ''}` }, 6 + i)),
    ]);
    await h.press('g', KEYS.enter);
    expect(h.frame()).toContain('· wrap');
    await h.press('g');
    expect(h.frame()).toContain('END');
    await h.press('w');
    expect(h.frame()).not.toContain('END');
    await h.press('/', 'needle', KEYS.enter);
    expect(h.ctl.logView!.match).toBe(7);
    await h.press('n');
    expect(h.ctl.logView!.match).toBe(27);
    expect(h.frame()).toContain('line 27 needle');
    await h.press('N');
    expect(h.ctl.logView!.match).toBe(7);
    await h.press('/', 'nowhere', KEYS.enter);
    expect(h.frame()).toContain('not found: nowhere');
  });
});

describe('per-checkpoint evaluations', () => {
  // BIRD-like columns: the TUI draws whatever breakdown the step published, against the training step.
  const columns = ['simple', 'moderate', 'challenging', 'all'];
  const scores: Record<number, number[]> = { 2: [0.5, 0.3, 0.1, 0.4], 4: [0.7, 0.5, 0.2, 0.6], 6: [0.6, 0.4, 0.3, 0.5] };
  const ckpt = (step: number) => ({ ...info(`eval_val[ckpt=${step}]`, { ckpt: step }), checkpoint: { step, series: 'eval_val' } });
  const events: EngineEvent[] = [
    ev('run-start', { recipe: 'r.yml', name: 'r', steps: [info('train'), ckpt(6), ckpt(2), ckpt(4)] }, 0),
    // Finished out of order, as parallel instances do; the curve follows the training step.
    ...[6, 2, 4].flatMap((step, i) => {
      const row = Object.fromEntries(columns.map((col, k) => [col, scores[step]![k]!]));
      const table = { title: 'by difficulty', columns, rows: { count: { simple: 5, moderate: 3, challenging: 2, all: 10 }, ex: row } };
      return [ev('step-summary', { step: `eval_val[ckpt=${step}]`, table }, 1 + i), ev('step-done', { step: `eval_val[ckpt=${step}]`, key: 'k', durationMs: 5, outputs: {} }, 1 + i)];
    }),
    endEvent('done', { done: 3 }, 10),
  ];

  test('EX, overall and by each published column, drawn against the training step with the best checkpoint', async () => {
    h = await mountTui('cached.ndjson', { columns: 120 });
    await h.send(events);
    const lines = h.frame().split('\n');
    const at = lines.findIndex((l) => l.includes('per checkpoint (training step)'));
    expect(at).toBeGreaterThan(-1);
    const curve = lines.slice(at + 1, at + 5).map((l) => l.trimEnd());
    expect(curve[0]).toMatch(/^eval_val\s+EX simple\s+[▁▂▃▄▅▆▇█]{3}\s+2 0\.500 → 6 0\.600\s+best 0\.700 at 4$/);
    expect(curve[1]).toMatch(/^\s+EX moderate\s+[▁▂▃▄▅▆▇█]{3}\s+2 0\.300 → 6 0\.400\s+best 0\.500 at 4$/);
    expect(curve[2]).toMatch(/^\s+EX challenging\s+[▁▂▃▄▅▆▇█]{3}\s+2 0\.100 → 6 0\.300\s+best 0\.300 at 6$/);
    expect(curve[3]).toMatch(/^\s+EX all\s+▁█▅\s+2 0\.400 → 6 0\.500\s+best 0\.600 at 4$/);
    // The counts are not a curve.
    expect(lines.slice(at).join('\n')).not.toMatch(/COUNT|count\s+[▁▂▃▄▅▆▇█]/);
  });
});
