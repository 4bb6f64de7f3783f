// flow's command line. Each command is a small function; errors in a recipe or
// in the arguments print one line and exit 2, a failed step exits 1, a
// cancelled run 130.

import { RecipeError, UsageError } from '../recipe/errors.js';
import { EXIT } from './args.js';
import { cmdRun, cmdPlan, cmdValidate } from './run.js';
import { cmdDag, cmdGc, cmdLog, cmdStatus } from './inspect.js';

const HELP = `flow — Text-to-SQL fine-tuning pipelines as a cached DAG

Usage: flow <command> [options]

  run <recipe>        run the recipe's steps, reusing cached results
      --only s[,t]  --from s  --until s  --force s[,t]  --force-all
      --set k=v (repeatable)  --dry-run  --jobs N  --gpus 0,1
      --ui tui|plain|json  --no-color  --stay (keep the TUI open after the run)
  plan <recipe>       say which steps are cached or will run, and why  [--json] [selection flags]
  validate <recipe>   check schema, references and the DAG (exit 0 or 2)
  dag <recipe>        print the step graph  [--format mermaid|dot]
  status [run]        recent runs, or one run's steps
  attach [run]        follow a run started elsewhere, live, read-only (alias: watch)  [--stay]
  log <run> <step>    print a step execution's log (run may be "last")
  gc                  delete cache entries the last N runs do not use  [--keep N]
  compare             EX/EM by hardness across variants and runs  [--recipe r] [--format md|csv|json] [--metric ex|em|rouge]
  metrics diff A B    metric deltas between two runs
  plot <run>          loss curves and EX bars as SVG and PNG
  report <run>        self-contained HTML and markdown report

Common options: --cache-dir DIR (or FLOW_CACHE; default: cache/ in the flow checkout)
Exit codes: 0 ok, 1 a step failed, 2 usage or validation error, 130 cancelled.`;

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run':
      return cmdRun(rest, argv);
    case 'plan':
      return cmdPlan(rest);
    case 'validate':
      return cmdValidate(rest);
    case 'dag':
      return cmdDag(rest);
    case 'status':
      return cmdStatus(rest);
    case 'log':
      return cmdLog(rest);
    case 'gc':
      return cmdGc(rest);
    case 'attach':
    case 'watch':
      return (await import('./attach.js')).cmdAttach(rest);
    case 'compare':
    case 'metrics':
    case 'plot':
    case 'report':
      return (await import('./experiments.js')).cmdExperiments(cmd, rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${HELP}\n`);
      return cmd === undefined ? EXIT.usage : EXIT.ok;
    case '--version':
      process.stdout.write('flow 0.1.0\n');
      return EXIT.ok;
    default:
      throw new UsageError(`unknown command "${cmd}" (flow --help lists them)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof RecipeError) {
      process.stderr.write(`error: ${e.format()}\n`);
      process.exitCode = EXIT.usage;
    } else if (e instanceof UsageError) {
      process.stderr.write(`error: ${e.message}\n`);
      process.exitCode = EXIT.usage;
    } else {
      process.stderr.write(`flow: internal error: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exitCode = EXIT.failed;
    }
  },
);
