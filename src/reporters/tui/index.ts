// The TUI reporter: an ink app over the engine's event stream. See controller.ts
// for the key bindings and the quit/re-run hand-over to the CLI.

import { render } from 'ink';
import { createElement } from 'react';
import type { Reporter, RunControl } from '../../events.js';
import { TuiApp } from './App.js';
import { TuiController } from './controller.js';

export interface TuiReporterOptions {
  control: RunControl;
  color: boolean;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  /** Called after each frame ink writes; the benchmark counts frames with it. */
  onFrame?: (renderMs: number) => void;
}

/** Frames per second at most: enough to look live, cheap under heavy log traffic. */
const MAX_FPS = 20;

export function createTuiReporter(opts: TuiReporterOptions): Reporter {
  const ctl = new TuiController({ control: opts.control, color: opts.color, frameMs: 1000 / MAX_FPS });
  const ink = render(createElement(TuiApp, { ctl }), {
    stdout: opts.stdout ?? process.stdout,
    stdin: opts.stdin ?? process.stdin,
    // Ctrl-C is a key like any other here: it must cancel the run through the engine.
    exitOnCtrlC: false,
    patchConsole: false,
    maxFps: MAX_FPS,
    onRender: opts.onFrame ? ({ renderTime }) => opts.onFrame!(renderTime) : undefined,
  });
  return {
    onEvent: (e) => ctl.onEvent(e),
    nextAction: () => ctl.nextAction(),
    async close() {
      ctl.flush();
      ctl.dispose();
      ink.unmount();
      await ink.waitUntilExit();
    },
  };
}
