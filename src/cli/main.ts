// flow's command line (commander). Every subcommand answers --help/-h; option
// values are checked by the parsers in args.ts; every error is one `error:`
// line. Exit codes (args.ts): 0 ok, 1 a step failed, 2 usage or validation
// error, 130 cancelled. Command modules load lazily, so `flow --version` and
// `flow --help` load no database, no step type and no renderer.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError, Option } from 'commander';
import { RecipeError, recipeErrorList, UsageError } from '../recipe/errors.js';
import { ROOT } from '../root.js';
import { isDamage } from '../store/damage.js';
import { EXIT, collect, gpuList, positiveInt, wholeNumber } from './args.js';
import { environmentError } from '../proc/env-error.js';
import { errorEvent } from './error-event.js';
import { addExperimentCommands, oneLine, workspaceContext } from './experiments.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let exitCode: number = EXIT.ok;
const setExit = (code: number) => {
  exitCode = code;
};

/** Flags that change the plan, shared by flow run and flow plan (so plan shows what run will do). */
function selection(cmd: Command): Command {
  return cmd
    .option('--only <steps>', 'run just these steps (comma-separated), reading cached upstream results')
    .option('--from <step>', 'this step and everything downstream of it')
    .option('--until <step>', 'this step and everything upstream of it')
    .option('--force <steps>', 're-run these steps even if cached')
    .option('--force-all', 're-run every selected step')
    .option('--set <key=value>', 'override a param (repeatable; the value is read as YAML)', collect, [])
    .option('--gpus <ids>', 'GPU ids to hand out, e.g. 0,1 (default: CUDA_VISIBLE_DEVICES, else all)', gpuList)
    .option('--executor <type>', "where steps' processes run when the recipe does not say (default: local)")
    .option('--allow-cpu', 'train a model too large for a CPU even where its step has no GPU (refused otherwise; docs/steps/python.md: What the plan refuses)');
}

const cacheDir = (cmd: Command) =>
  cmd.option('--cache-dir <dir>', "the cache (default: FLOW_CACHE, else .flow/cache in the project: the nearest folder up with .git, else the recipe's or current folder)");

function program(): Command {
  const p = new Command('flow')
    .description('Text-to-SQL fine-tuning pipelines as a cached DAG')
    .version(`flow ${VERSION}`, '-V, --version')
    .helpOption('-h, --help', 'show help')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`${oneLine(str)}\n`) })
    .addHelpText('after', '\nExit codes: 0 ok, 1 a step failed, 2 usage or validation error, 130 cancelled.');

  const run = selection(cacheDir(p.command('run').argument('<recipe>', 'recipe file (YAML)')))
    .description("run the recipe's steps, reusing cached results")
    .option('--dry-run', 'print the plan and stop')
    .option('--jobs <n>', 'steps run at once', positiveInt, 2)
    .addOption(new Option('--ui <mode>', 'reporter (default: tui on a terminal, else plain)').choices(['tui', 'plain', 'json']))
    .option('--color', 'colour even when not a terminal')
    .option('--no-color', 'no colour')
    .option('--stay', 'keep the TUI open after the run to browse it (or press s during the run)');
  run.action(async (recipe: string, o) => setExit(await (await import('./run.js')).cmdRun(recipe, o, process.argv.slice(2))));

  selection(cacheDir(p.command('plan').argument('<recipe>')))
    .description('say which steps are cached or will run, and why')
    .option('--json', 'print the plan as JSON')
    .action(async (recipe: string, o) => setExit(await (await import('./run.js')).cmdPlan(recipe, o)));

  cacheDir(p.command('validate').argument('<recipe>'))
    .description('check schema, references and the DAG (exit 0 or 2)')
    .option('--set <key=value>', 'override a param (repeatable)', collect, [])
    .action(async (recipe: string, o) => setExit(await (await import('./run.js')).cmdValidate(recipe, o)));

  cacheDir(p.command('dag').argument('<recipe>'))
    .description('print the step graph: a tree in the terminal, or Mermaid or Graphviz source')
    .addOption(new Option('--format <format>', 'tree, or a graph language to render elsewhere').choices(['tree', 'mermaid', 'dot']).default('tree'))
    .option('--set <key=value>', 'override a param (repeatable)', collect, [])
    .action(async (recipe: string, o) => setExit(await (await import('./inspect.js')).cmdDag(recipe, o)));

  cacheDir(p.command('status').argument('[run]', 'a run id, a unique prefix of one, or "last"'))
    .description("recent runs, or one run's steps")
    .option('--limit <n>', 'how many runs to list', positiveInt, 10)
    .action(async (run: string | undefined, o) => setExit(await (await import('./inspect.js')).cmdStatus(run, o)));

  cacheDir(p.command('runs'))
    .description('recent runs (as flow status)')
    .option('--limit <n>', 'how many runs to list', positiveInt, 10)
    .action(async (o) => setExit(await (await import('./inspect.js')).cmdStatus(undefined, o)));

  cacheDir(p.command('log').argument('<run>', 'a run id, a unique prefix, or "last"').argument('<step>'))
    .description("print a step execution's log, or why the step did not run (exit 1)")
    .action(async (run: string, step: string, o) => setExit(await (await import('./inspect.js')).cmdLog(run, step, o)));

  cacheDir(p.command('gc'))
    .description('free the cache: entries, checkpoints, logs, work dirs and envs the last N runs do not use')
    .option('--keep <n>', 'keep what the last N runs used', wholeNumber, 5)
    .action(async (o) => setExit(await (await import('./gc.js')).cmdGc(o)));

  cacheDir(p.command('attach').alias('watch').argument('[run]', 'a run id, a unique prefix of one, or "last" (default: the newest running, else the newest)'))
    .description('follow a run started elsewhere (another terminal, nohup, a cluster job), read-only, to its end')
    .addOption(new Option('--ui <mode>', 'reporter (default: tui on a terminal, else plain)').choices(['tui', 'plain']))
    .option('--stay', 'keep the TUI open after the run ends')
    .option('--no-color', 'no colour')
    .action(async (run: string | undefined, o) => setExit(await (await import('./attach.js')).cmdAttach(run, o)));

  cacheDir(p.command('track').argument('[run]', 'a run id, a unique prefix of one, or "last" (default: the newest finished)'))
    .description("log a recorded run to its recipe's trackers (report_to:) again, e.g. after a tracker was down")
    .action(async (run: string | undefined, o) => setExit(await (await import('./trackers.js')).cmdTrack(run, o)));

  cacheDir(p.command('verify'))
    .description('re-hash every cached object and report damaged results (like git fsck)')
    .option('--repair', 'quarantine damaged objects and remove the results that use them')
    .action(async (o) => setExit(await (await import('./verify.js')).cmdVerify(o)));

  cacheDir(p.command('doctor'))
    .description('repair the cache database')
    .option('--rebuild', 'rebuild the cache index from the entries (a lost or damaged flow.db); the old one is kept')
    .action(async (o) => setExit(await (await import('./verify.js')).cmdDoctor(o)));

  addExperimentCommands(p, workspaceContext, setExit, cacheDir);

  for (const c of p.commands) c.exitOverride().configureOutput({ outputError: (str, write) => write(`${oneLine(str)}\n`) });
  return p;
}

/** `--ui json` prints failures as a JSON event too, so a consumer of the stream sees why nothing ran. */
function wantsJson(argv: string[]): boolean {
  const i = argv.indexOf('--ui');
  return (i >= 0 && argv[i + 1] === 'json') || argv.includes('--ui=json');
}

async function main(argv: string[]): Promise<number> {
  const p = program();
  if (argv.length === 0) {
    process.stdout.write(p.helpInformation());
    return EXIT.usage;
  }
  try {
    await p.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // `flow help run` and --help exit 0; help shown for a command missing its subcommand (`flow metrics`) is an error.
      if (e.exitCode === 0) return EXIT.ok;
      if (wantsJson(argv)) process.stdout.write(`${JSON.stringify(errorEvent('usage', e.message.replace(/^error: /, '')))}\n`);
      return EXIT.usage;
    }
    throw e;
  }
}

// A closed stdout (`flow plan | head -1`) ends nothing: what is left to print is dropped and the
// command finishes (a run still runs and records its steps). Any other failure to write it
// (`> /dev/full`) is said once on stderr and makes the exit code 1.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  process.stdout.write = (() => true) as typeof process.stdout.write;
  if (e.code === 'EPIPE') return;
  process.stderr.write(`error: cannot write the output (${e.code ?? e.message}); nothing else is printed\n`);
  outputLost = true;
  if (settled && !process.exitCode) process.exitCode = EXIT.failed;
});
let outputLost = false;
let settled = false;

// An error of the environment met outside a command's own flow (a stream's write, a timer) is one line too.
process.on('uncaughtException', (e) => {
  const env = environmentError(e);
  process.stderr.write(env ? `error: ${env}\n` : `error: internal: ${(e as Error)?.stack ?? String(e)}\n`);
  process.exit(EXIT.failed);
});

// A command whose work was lost (a promise nothing will ever settle, so Node ran out of things to
// wait for) must not look like success: it ends with one line and exit 1, never 0.
process.on('exit', () => {
  if (settled || (process.exitCode ?? 0) !== 0) return;
  process.stderr.write('error: internal: flow stopped before the command finished (an operation it waited for never ended)\n');
  process.exitCode = EXIT.failed;
});

main(process.argv.slice(2)).then(
  (code) => {
    settled = true;
    process.exitCode = code === EXIT.ok && outputLost ? EXIT.failed : code;
  },
  (e: unknown) => {
    settled = true;
    if (e instanceof RecipeError) {
      for (const one of recipeErrorList(e)) process.stderr.write(`error: ${one.format()}\n`);
      process.exitCode = EXIT.usage;
    } else if (isDamage(e)) {
      process.stderr.write(`error: the cache database is damaged (${(e as Error).message}); run \`flow doctor --rebuild\`\n`);
      process.exitCode = EXIT.usage;
    } else if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = EXIT.usage;
    } else if (environmentError(e)) {
      process.stderr.write(`error: ${environmentError(e)}\n`);
      process.exitCode = EXIT.failed;
    } else {
      process.stderr.write(`error: internal: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = EXIT.failed;
    }
  },
);
