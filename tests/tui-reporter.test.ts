// createTuiReporter as the CLI uses it: events in, keys in, next action out,
// and close() leaving the terminal as it found it. The terminal here is a pair
// of in-memory TTY-like streams; the real terminal is covered by tui-e2e.test.ts.

import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from 'vitest';
import type { RunControl } from '../src/events.js';
// Loaded as the CLI loads it: ink must not see CI=true (it would draw only a last frame).
import { loadTuiReporter } from '../src/reporters/tui/load.js';
import { logWritingSink, readEvents, withLogFiles } from './helpers/replay.js';

class FakeStdout extends EventEmitter {
  isTTY = true;
  columns = 120;
  rows = 40;
  output = '';
  write = (chunk: string) => {
    this.output += chunk;
    return true;
  };
}

class FakeStdin extends EventEmitter {
  isTTY = true;
  rawModes: boolean[] = [];
  private data: string | null = null;
  write(data: string) {
    this.data = data;
    this.emit('readable');
    this.emit('data', data);
  }
  read = () => {
    const d = this.data;
    this.data = null;
    return d;
  };
  setRawMode(on: boolean) {
    this.rawModes.push(on);
  }
  setEncoding() {}
  resume() {}
  pause() {}
  ref() {}
  unref() {}
}

test('drives a run, hands over a re-run, and restores the terminal on close', async () => {
  const stdout = new FakeStdout();
  const stdin = new FakeStdin();
  let cancels = 0;
  const control: RunControl = { cancel: () => void cancels++ };
  const reporter = await loadTuiReporter({
    control,
    color: false,
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    stay: true,
  });
  const events = withLogFiles(readEvents('failed.ndjson'), mkdtempSync(join(tmpdir(), 'flow-tui-')));
  logWritingSink((e) => reporter.onEvent(e))(events);
  const next = reporter.nextAction!();
  await new Promise((r) => setTimeout(r, 20));
  stdin.write('k');
  stdin.write('r');
  expect(await next).toEqual({ type: 'rerun', step: 'data' });
  expect(cancels).toBe(0);
  // ink draws at most one frame per slot: let the frame with the notice out before closing.
  await new Promise((r) => setTimeout(r, 150));
  await reporter.close();
  expect(stdin.rawModes[0]).toBe(true);
  expect(stdin.rawModes[stdin.rawModes.length - 1]).toBe(false);
  // The last frame written before unmounting shows the finished run.
  expect(stdout.output).toContain('Run failed in 2.2s');
  expect(stdout.output).toContain('Re-running data…');
  expect(stdout.output).not.toContain('\u001B[31m');
});

test('without --stay: quits at run-end and leaves one final frame per run (a re-run is a new run below)', async () => {
  const stdout = new FakeStdout();
  const stdin = new FakeStdin();
  const reporter = await loadTuiReporter({
    control: { cancel: () => undefined },
    color: false,
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
  });
  const events = withLogFiles(readEvents('failed.ndjson'), mkdtempSync(join(tmpdir(), 'flow-tui-')));
  const end = events.findIndex((e) => e.type === 'run-end');
  const feed = logWritingSink((e) => reporter.onEvent(e));
  feed(events.slice(0, end));
  await new Promise((r) => setTimeout(r, 20));
  // r during the run: data re-runs after it, then the TUI quits by itself.
  stdin.write('g');
  stdin.write('r');
  const first = reporter.nextAction!();
  feed(events.slice(end));
  expect(await first).toEqual({ type: 'rerun', step: 'data' });
  const second = reporter.nextAction!();
  feed(events.map((e) => ({ ...e, runId: 'r2' }) as typeof e));
  expect(await second).toEqual({ type: 'quit' });
  const before = stdout.output.length;
  await reporter.close();
  const left = stdout.output.slice(before);
  // Both runs' frames, in order, as plain lines after the live frame is erased.
  const runs = [...left.matchAll(/Run failed in 2\.2s/g)];
  expect(runs).toHaveLength(2);
  expect(left).toMatch(/✖ train\[lora_rank=8\]\s+failed/);
  expect(left).toContain('✖ train[lora_rank=8]: exit 1 · torch.OutOfMemoryError');
  expect(left).not.toContain('q quit');
});
