// flow compare / metrics diff / plot / report: thin wiring around src/experiments.

import { cmdCompare, cmdMetricsDiff, cmdPlot, cmdReport } from '../experiments/commands.js';
import { UsageError } from '../recipe/errors.js';
import { cacheDirFrom, openExistingWorkspace } from '../scheduler/workspace.js';

export async function cmdExperiments(cmd: string, rest: string[], cacheDir: string | undefined): Promise<number> {
  const ws = openExistingWorkspace(cacheDirFrom(cacheDir), { readOnly: true });
  const ctx = { db: ws.db, cacheDir: ws.cacheDir, reportsDir: ws.store.reports, stdout: process.stdout, errorPrefix: 'error:' };
  try {
    // A run whose flow process died is 'crashed', not 'running', in what these commands say.
    ws.records.markCrashedRuns();
    switch (cmd) {
      case 'compare':
        return await cmdCompare(rest, ctx);
      case 'metrics':
        if (rest[0] !== 'diff') throw new UsageError('usage: flow metrics diff <runA> <runB>');
        return await cmdMetricsDiff(rest.slice(1), ctx);
      case 'plot':
        return await cmdPlot(rest, ctx);
      default:
        return await cmdReport(rest, ctx);
    }
  } finally {
    ws.close();
  }
}
