// flow attach [run] (alias: watch): thin wiring around src/reporters/tui/attach.ts.

import { AttachError, followRun, pickRun } from '../reporters/tui/attach.js';
import { createPlainReporter } from '../reporters/plain.js';
import { loadTuiReporter } from '../reporters/tui/load.js';
import { UsageError } from '../recipe/errors.js';
import { cacheDirFrom, openWorkspace } from '../scheduler/workspace.js';
import { EXIT, parse } from './args.js';

export async function cmdAttach(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ui: { type: 'string' },
    stay: { type: 'boolean' },
    'no-color': { type: 'boolean' },
  });
  if (positionals.length > 1) throw new UsageError('usage: flow attach [run]');
  const ui = (values.ui as string | undefined) ?? (process.stdout.isTTY && process.stdin.isTTY ? 'tui' : 'plain');
  if (!['tui', 'plain'].includes(ui)) throw new UsageError(`--ui ${ui}: expected tui or plain`);
  const color = !values['no-color'] && !process.env.NO_COLOR && Boolean(process.stdout.isTTY);
  const ws = openWorkspace(cacheDirFrom(values['cache-dir'] as string | undefined));
  const signals = new AbortController();
  const onSignal = () => signals.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    let run;
    try {
      run = pickRun(ws.db, positionals[0]);
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
            stay: Boolean(values.stay),
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
