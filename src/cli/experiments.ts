// flow compare / metrics diff / plot / report: thin wiring around src/experiments.

import { cmdCompare, cmdMetricsDiff, cmdPlot, cmdReport } from '../experiments/commands.js';
import { UsageError } from '../recipe/errors.js';
import { cacheDirFrom, openWorkspace } from '../scheduler/workspace.js';

/** Pulls the common --cache-dir flag out; the experiment commands parse the rest. */
function takeCacheDir(argv: string[]): { cacheDir?: string; rest: string[] } {
  const rest: string[] = [];
  let cacheDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--cache-dir') cacheDir = argv[++i];
    else if (a.startsWith('--cache-dir=')) cacheDir = a.slice('--cache-dir='.length);
    else rest.push(a);
  }
  return { cacheDir, rest };
}

export async function cmdExperiments(cmd: string, argv: string[]): Promise<number> {
  const { cacheDir, rest } = takeCacheDir(argv);
  const ws = openWorkspace(cacheDirFrom(cacheDir));
  const ctx = { db: ws.db, cacheDir: ws.cacheDir, stdout: process.stdout };
  try {
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
