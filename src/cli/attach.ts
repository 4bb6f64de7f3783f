// flow attach [run] (alias: watch): thin wiring around src/reporters/tui/attach.ts.

import { AttachError, followRun, pickRun } from '../experiments/attach.js';
import { createPlainReporter } from '../reporters/plain.js';
import { loadTuiReporter } from '../reporters/tui/load.js';
import { UsageError } from '../recipe/errors.js';
import { cacheDirFrom, openExistingWorkspace } from '../scheduler/workspace.js';
import { EXIT } from './args.js';

export async function cmdAttach(runArg: string | undefined, o: { ui?: 'tui' | 'plain'; stay?: boolean; color?: boolean; cacheDir?: string }): Promise<number> {
  const ui = o.ui ?? (process.stdout.isTTY && process.stdin.isTTY ? 'tui' : 'plain');
  const color = o.color !== false && !process.env.NO_COLOR && Boolean(process.stdout.isTTY);
  const ws = openExistingWorkspace(cacheDirFrom(o.cacheDir), { readOnly: true });
  const signals = new AbortController();
  const onSignal = () => signals.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let run;
    try {
      run = pickRun(ws.db, runArg);
    } catch (e) {
      if (e instanceof AttachError) throw new UsageError(e.message);
      throw e;
    }
    const reporter =
      ui === 'plain'
        ? createPlainReporter({ color })
        : await loadTuiReporter({
            control: { cancel: () => undefined },
            color,
            readOnly: true,
            stay: Boolean(o.stay),
          });
    let status;
    try {
      status = await followRun({ db: ws.db, run, reporter, signal: signals.signal });
    } finally {
      await reporter.close();
    }
    return status === 'failed' ? EXIT.failed : status === 'cancelled' ? EXIT.cancelled : EXIT.ok;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    ws.close();
  }
}
