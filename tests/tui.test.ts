// Component tests of the TUI reporter: the real ink app and controller, driven
// by recorded engine event streams (tests/fixtures/events) and keystrokes.

import { afterEach, describe, expect, test } from 'vitest';
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

function rowOf(frame: string, step: string): string {
  const line = frame.split('\n').find((l) => l.includes(` ${step} `));
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

    expect(rowOf(f, 'data')).toMatch(/cached\s+hit\s.*saved 42m 00s/);
    const train = rowOf(f, 'train[lora_rank=8]');
    // 6 s since step-start on the replay clock; GPU 0; 600 of 1000 steps at 100 steps/s => ETA 4 s.
    expect(train).toMatch(/running\s+\d+\.\ds\s+miss\s+0\s/);
    expect(train).toContain('600/1000');
    expect(train).toContain('ETA 4.0s');
    expect(train).toMatch(/loss 0\.7322 [▁▂▃▄▅▆▇█]{5,}/);
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
    expect(rowOf(f, 'train[lora_rank=8]')).toMatch(/failed\s+2\.0s\s+miss\s+0\s+exit 1: exited with code 1/);
    expect(rowOf(f, 'train[lora_rank=32]')).toContain('cancelled');
    expect(rowOf(f, 'predict[lora_rank=8]')).toMatch(/skipped\s+train\[lora_rank=8\] failed/);
    expect(f).toContain('── summary');
    expect(f).toContain('Run failed in 2.2s · 1 ran · 0 cached · 1 failed · 1 cancelled · 2 skipped');
    expect(f).toContain('✖ train[lora_rank=8]: exited with code 1: torch.OutOfMemoryError');
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
    expect(rowOf(f, 'train[lora_rank=8]')).toMatch(/cancelled\s+3\.2s\s+miss/);
    expect(rowOf(f, 'eval[lora_rank=8]')).toMatch(/skipped\s+run cancelled/);
    expect(f).toContain('Run cancelled in 3.2s · 0 ran · 1 cached · 0 failed · 2 cancelled · 2 skipped · cache saved 42m 00s');
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
