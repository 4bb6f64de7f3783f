// flow compare / metrics diff / plot / report on commander, like every other command (so an
// unknown or mistyped option gets "Did you mean ...?", and a bad value one `error:` line, exit 2).
// The bodies live in src/experiments/commands.ts and load only when a command runs.

import { Command, CommanderError, Option } from 'commander';
import { COMPARE_FORMATS, COMPARE_METRICS } from '../experiments/choices.js';
import type { CmdContext } from '../experiments/commands.js';
import { EXIT } from './args.js';

/** Runs a body with the context it writes to; the CLI opens the cache named by --cache-dir. */
export type WithContext = (cacheDir: string | undefined, body: (ctx: CmdContext) => Promise<number>) => Promise<number>;

const commands = () => import('../experiments/commands.js');

/** The CLI's context: the cache named by --cache-dir (or found), its runs' records read as they stand. */
export const workspaceContext: WithContext = async (cacheDir, body) => {
  const { cacheDirFrom, openExistingWorkspace } = await import('../scheduler/workspace.js');
  const ws = openExistingWorkspace(cacheDirFrom(cacheDir), { readOnly: true });
  try {
    // A run whose flow process died is 'crashed', not 'running', in what these commands say.
    ws.records.markCrashedRuns();
    return await body({ db: ws.db, cacheDir: ws.cacheDir, reportsDir: ws.store.layout.reports, stdout: process.stdout, errorPrefix: 'error:' });
  } finally {
    ws.close();
  }
};

const format = () => new Option('-f, --format <format>', 'output format').choices(COMPARE_FORMATS).default('text');
const metric = (what: string) => new Option('-m, --metric <metric>', what).choices(COMPARE_METRICS);

/**
 * Adds the four commands to `parent`. `cacheDirOption` adds the --cache-dir flag; `done` receives
 * each command's exit code.
 */
export function addExperimentCommands(parent: Command, withCtx: WithContext, done: (code: number) => void, cacheDirOption: (c: Command) => Command = (c) => c): void {
  cacheDirOption(parent.command('compare'))
    .description('EX/EM by hardness across variants and runs, with params, loss, duration, the paired interval and p-value, provenance')
    .argument('[runs...]', 'run ids, unique prefixes of them, or "last" (default: the newest run)')
    .option('-r, --recipe <name>', "every run of this recipe (instead of run ids)")
    .addOption(metric('which metric to tabulate').default('ex'))
    .addOption(format())
    .option('--items', 'the items on which the two rows disagree, with question, gold and both predictions')
    .option('--ignore-provenance', 'compare numbers measured differently (evaluator, databases, gold, flags) anyway')
    .action(async (runs: string[], o) => done(await withCtx(o.cacheDir, async (ctx) => (await commands()).compareCommand(runs, o, ctx))));

  const metrics = cacheDirOption(parent.command('metrics')).description('metric deltas between two runs: the changed rows, or --all');
  // Without its subcommand: one usage line (exit 2), not the help page.
  metrics.action(() => metrics.error('error: usage: flow metrics diff <runA> <runB>', { exitCode: EXIT.usage, code: 'flow.usage' }));
  cacheDirOption(metrics.command('diff'))
    .description('the metrics that changed between two runs (a single instance pairs with a single instance)')
    .argument('<runA>')
    .argument('<runB>')
    .option('-a, --all', 'every metric, the unchanged and the partial scores too')
    .option('-m, --metric <prefix>', 'only metrics whose name starts with this (e.g. ex)')
    .addOption(format())
    .action(async (a: string, b: string, o, cmd: Command) =>
      done(await withCtx(o.cacheDir ?? cmd.parent?.opts().cacheDir, async (ctx) => (await commands()).metricsDiffCommand(a, b, o, ctx))),
    );

  cacheDirOption(parent.command('plot'))
    .description('loss curves, EX per checkpoint and EX bars as SVG and PNG (default: the newest finished run)')
    .usage('[run | compare [runs...]] [options]')
    .argument('[args...]', 'a run id (default: the newest finished run), or `compare` and run ids')
    .option('-r, --recipe <name>', 'with `compare`: every run of this recipe')
    .addOption(metric('with `compare`: which metric to chart (default: ex)'))
    .option('-o, --out <dir>', 'output folder (default: the cache\'s reports/)')
    .action(async (args: string[], o) => done(await withCtx(o.cacheDir, async (ctx) => (await commands()).plotCommand(args, o, ctx))));

  cacheDirOption(parent.command('report'))
    .description('self-contained HTML and markdown report (default: the newest finished run)')
    .argument('[runs...]', 'a run id (default: the newest finished run); with --compare two or more')
    .option('-o, --out <dir>', 'output folder')
    .option('--compare', 'one report comparing the runs named')
    .option('--ignore-provenance', 'with --compare: set numbers measured differently side by side anyway')
    .action(async (runs: string[], o) => done(await withCtx(o.cacheDir, async (ctx) => (await commands()).reportCommand(runs, o, ctx))));
}

/** Commander's message and its suggestion on one line: `error: unknown option '--forse' (Did you mean --force?)`. */
export function oneLine(s: string): string {
  return s.trim().split('\n').map((l) => l.trim()).filter(Boolean).join(' ');
}

/**
 * One command (`compare`, `metrics`, `plot` or `report`) run on argv against a context, parsed
 * exactly as the CLI parses it: what the tests and other programs call.
 */
export async function runExperimentCommand(name: 'compare' | 'metrics' | 'plot' | 'report', argv: string[], ctx: CmdContext): Promise<number> {
  const stderr = ctx.stderr ?? process.stderr;
  const prefix = ctx.errorPrefix ?? 'flow:';
  const p = new Command('flow')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => stderr.write(s),
      outputError: (s, write) => write(`${oneLine(s).replace(/^error:/, prefix)}\n`),
    });
  let code: number = EXIT.ok;
  addExperimentCommands(p, (_dir, body) => body(ctx), (c) => (code = c));
  try {
    await p.parseAsync([name, ...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw e;
  }
}
