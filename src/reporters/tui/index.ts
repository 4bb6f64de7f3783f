// The TUI reporter: an ink app over the engine's event stream. See controller.ts
// for the key bindings and the quit/re-run hand-over to the CLI.

import { render } from 'ink';
import { createElement } from 'react';
import type { Reporter, RunControl } from '../../events.js';
import { TuiApp } from './App.js';
import { TuiController } from './controller.js';
import { finalFrameLines } from './layout.js';

export interface TuiReporterOptions {
  control: RunControl;
  color: boolean;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  /** Called after each frame ink writes; the benchmark counts frames with it. */
  onFrame?: (renderMs: number) => void;
  /** Stay open after the run ends (--stay); by default the TUI quits when the run ends. */
  stay?: boolean;
  /** Following a run another process drives (flow attach): r and c are off, q leaves the run alone. */
  readOnly?: boolean;
}

/** Frames per second at most: enough to look live, cheap under heavy log traffic. */
const MAX_FPS = 20;

export function createTuiReporter(opts: TuiReporterOptions): Reporter {
  const ctl = new TuiController({
    control: opts.control,
    color: opts.color,
    frameMs: 1000 / MAX_FPS,
    stay: opts.stay,
    readOnly: opts.readOnly,
  });
  const stdout = opts.stdout ?? process.stdout;
  // Each run that ends leaves its final frame; a session with re-runs leaves one per run.
  const frames: string[][] = [];
  ctl.onRunEnd = () => frames.push(finalFrameLines(ctl));
  const ink = render(createElement(TuiApp, { ctl }), {
    stdout,
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
      // The live frame is erased (an empty last frame) and the runs' final frames are
      // printed as plain text, which the terminal keeps in its scrollback whatever their height.
      ctl.view = 'closed';
      ctl.flush();
      ctl.dispose();
      // Let React commit the empty view before ink draws its last frame.
      await new Promise((r) => setTimeout(r, 0));
      ink.unmount();
      await ink.waitUntilExit();
      if (frames.length === 0 && ctl.run.started) frames.push(finalFrameLines(ctl));
      stdout.write(frames.map((f) => f.join('\n')).join('\n\n') + (frames.length ? '\n' : ''));
    },
  };
}
