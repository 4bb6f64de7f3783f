// Mounts the real TUI component with ink-testing-library over a real controller,
// with a controller clock that follows the replayed events so frames do not
// depend on when the test runs.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { render } from 'ink-testing-library';
import { createElement } from 'react';
import type { EngineEvent, RunControl } from '../../src/events.js';
import { TuiApp } from '../../src/reporters/tui/App.js';
import { TuiController } from '../../src/reporters/tui/controller.js';
import { logWritingSink, readEvents, withLogFiles } from './replay.js';

export const KEYS = { up: '\u001B[A', down: '\u001B[B', enter: '\r', escape: '\u001B', ctrlC: '\u0003' };

export interface Harness {
  ctl: TuiController;
  cancels: () => number;
  events: EngineEvent[];
  send(events: EngineEvent[]): Promise<void>;
  press(...keys: string[]): Promise<void>;
  frame(): string;
  /** Waits until the frame contains `text` (fails with the frame after a few seconds). */
  waitFor(text: string | RegExp): Promise<string>;
  unmount(): void;
}

const tick = () => new Promise((r) => setImmediate(r));

/**
 * `stay` defaults to true here: most component tests browse the finished run,
 * which the real TUI does with --stay; tests of the default exit pass false.
 */
export async function mountTui(fixture: string, opts: { color?: boolean; stay?: boolean; columns?: number } = {}): Promise<Harness> {
  const logDir = mkdtempSync(join(tmpdir(), 'flow-tui-'));
  const events = withLogFiles(readEvents(fixture), logDir);
  let cancelled = 0;
  const control: RunControl = { cancel: () => void cancelled++ };
  const ctl: TuiController = new TuiController({
    control,
    color: opts.color ?? false,
    now: () => ctl.run.lastEventTime,
    stay: opts.stay ?? true,
  });
  const app = render(createElement(TuiApp, { ctl }));
  // ink-testing-library's stdout is 100 columns; a test may ask for another width.
  if (opts.columns) {
    Object.defineProperty(app.stdout, 'columns', { value: opts.columns, configurable: true });
    app.stdout.emit('resize');
  }
  const deliver = logWritingSink((e) => ctl.onEvent(e));
  const h: Harness = {
    ctl,
    events,
    cancels: () => cancelled,
    async send(evs) {
      deliver(evs);
      ctl.flush();
      await tick();
    },
    async press(...keys) {
      for (const k of keys) {
        app.stdin.write(k);
        await tick();
      }
    },
    frame: () => app.lastFrame() ?? '',
    async waitFor(text) {
      for (let i = 0; i < 300; i++) {
        const f = app.lastFrame() ?? '';
        if (typeof text === 'string' ? f.includes(text) : text.test(f)) return f;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`frame never showed ${String(text)}; last frame:\n${app.lastFrame()}`);
    },
    unmount() {
      ctl.dispose();
      app.unmount();
    },
  };
  await tick();
  return h;
}

/** The events before the first run-end, and the rest. */
export function splitAtRunEnd(events: EngineEvent[]): [EngineEvent[], EngineEvent[]] {
  const i = events.findIndex((e) => e.type === 'run-end');
  return i < 0 ? [events, []] : [events.slice(0, i), events.slice(i)];
}
