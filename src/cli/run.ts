// flow run / plan / validate.

import { buildGraph } from '../graph/dag.js';
import { checkRecipe } from '../recipe/check.js';
import { UsageError } from '../recipe/errors.js';
import { displayPath, loadRecipe } from '../recipe/load.js';
import { expandMatrix } from '../recipe/matrix.js';
import type { EngineEvent, Reporter } from '../events.js';
import { createJsonReporter } from '../reporters/json.js';
import { createPlainReporter } from '../reporters/plain.js';
import { makePlan, type PlanOptions } from '../scheduler/plan.js';
import { executePlan } from '../scheduler/run.js';
import { cacheDirFrom, openWorkspace } from '../scheduler/workspace.js';
import { StepRegistry } from '../steps/registry.js';
import { EXIT, parse, type Options } from './args.js';

const SELECTION: Options = {
  only: { type: 'string' },
  from: { type: 'string' },
  until: { type: 'string' },
  force: { type: 'string' },
  'force-all': { type: 'boolean' },
  set: { type: 'string', multiple: true },
};

const list = (s: string | undefined) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : undefined);

function recipeArg(positionals: string[], cmd: string): string {
  if (positionals.length !== 1) throw new UsageError(`usage: flow ${cmd} <recipe.yml>`);
  return positionals[0]!;
}

function planOptions(values: Record<string, unknown>, recipeFile: string): PlanOptions {
  return {
    recipeFile,
    sets: (values.set as string[]) ?? [],
    only: list(values.only as string),
    from: values.from as string | undefined,
    until: values.until as string | undefined,
    force: list(values.force as string),
    forceAll: Boolean(values['force-all']),
  };
}

export async function cmdValidate(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { set: { type: 'string', multiple: true } });
  const file = recipeArg(positionals, 'validate');
  const recipe = expandMatrix(loadRecipe(file, (values.set as string[]) ?? []));
  buildGraph(recipe);
  await checkRecipe(recipe, new StepRegistry());
  process.stdout.write(`ok: ${displayPath(recipe.file)} (${Object.keys(recipe.steps).length} steps)\n`);
  return EXIT.ok;
}

export async function cmdPlan(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...SELECTION, json: { type: 'boolean' } });
  const ws = openWorkspace(cacheDirFrom(values['cache-dir'] as string | undefined));
  try {
    const plan = await makePlan(ws, planOptions(values, recipeArg(positionals, 'plan')));
    printPlan(plan, Boolean(values.json));
    return EXIT.ok;
  } finally {
    ws.close();
  }
}

function printPlan(plan: Awaited<ReturnType<typeof makePlan>>, json: boolean): void {
  const steps = plan.involved.map((id) => {
    const s = plan.steps.get(id)!;
    return { id, status: s.status, reasons: s.reasons, key: s.key ?? null, type: s.prepared.type.name, selected: s.selected };
  });
  if (json) {
    process.stdout.write(`${JSON.stringify({ recipe: plan.recipe.file, steps })}\n`);
    return;
  }
  const width = Math.max(...steps.map((s) => s.id.length));
  for (const s of steps) {
    const head = `${s.status === 'cached' ? '·' : '▶'} ${s.id.padEnd(width)}  ${s.status === 'cached' ? 'cached' : 'will run'}`;
    process.stdout.write(`${head}${s.reasons.length ? `: ${s.reasons.join('; ')}` : ''}\n`);
  }
}

export async function cmdRun(argv: string[], fullArgv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {
    ...SELECTION,
    'dry-run': { type: 'boolean' },
    jobs: { type: 'string' },
    gpus: { type: 'string' },
    ui: { type: 'string' },
    color: { type: 'boolean' },
    'no-color': { type: 'boolean' },
    stay: { type: 'boolean' },
  });
  const file = recipeArg(positionals, 'run');
  const jobs = values.jobs === undefined ? 2 : Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs ${values.jobs}: expected a positive integer`);
  const ui = (values.ui as string | undefined) ?? (process.stdout.isTTY && process.stdin.isTTY ? 'tui' : 'plain');
  if (!['tui', 'plain', 'json'].includes(ui)) throw new UsageError(`--ui ${ui}: expected tui, plain or json`);
  const color = !values['no-color'] && !process.env.NO_COLOR && (Boolean(values.color) || Boolean(process.stdout.isTTY));

  const ws = openWorkspace(cacheDirFrom(values['cache-dir'] as string | undefined));
  // SIGINT/SIGTERM end the whole command; the TUI's cancel key ends only the current run,
  // after which the TUI shows its summary and may ask for a re-run.
  const signals = new AbortController();
  let current = new AbortController();
  const onSignal = () => {
    signals.abort();
    current.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let reporter: Reporter | undefined;
  try {
    let opts = planOptions(values, file);
    let plan = await makePlan(ws, opts);
    if (values['dry-run']) {
      printPlan(plan, ui === 'json');
      return EXIT.ok;
    }
    reporter = await createReporter(ui, color, () => current.abort(), Boolean(values.stay));
    const emit = (e: EngineEvent) => reporter!.onEvent(e);
    const gpus = values.gpus as string | undefined;
    let result = await executePlan(ws, plan, { ...opts, jobs, gpus, argv: fullArgv, signal: current.signal, emit });
    // The TUI can ask for a single step to run again; keep serving it until the user quits.
    while (reporter.nextAction && !signals.signal.aborted) {
      const next = await reporter.nextAction();
      if (next.type === 'quit' || signals.signal.aborted) break;
      opts = { ...opts, only: undefined, from: next.step, until: undefined, force: [next.step], forceAll: false };
      ws.files.forget();
      current = new AbortController();
      plan = await makePlan(ws, opts);
      result = await executePlan(ws, plan, { ...opts, jobs, gpus, argv: fullArgv, signal: current.signal, emit });
    }
    return result.status === 'done' ? EXIT.ok : result.status === 'cancelled' ? EXIT.cancelled : EXIT.failed;
  } finally {
    await reporter?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    ws.close();
  }
}

async function createReporter(ui: string, color: boolean, cancel: () => void, stay: boolean): Promise<Reporter> {
  if (ui === 'json') return createJsonReporter();
  if (ui === 'plain') return createPlainReporter({ color });
  // ink draws only a last frame when CI or CONTINUOUS_INTEGRATION is set (read once, when ink loads).
  // The TUI runs only on a terminal or when asked for, so hide them from ink, and only from ink:
  // steps still see the environment as it was.
  const saved = { CI: process.env.CI, CONTINUOUS_INTEGRATION: process.env.CONTINUOUS_INTEGRATION };
  process.env.CI = '0';
  process.env.CONTINUOUS_INTEGRATION = '0';
  try {
    const { createTuiReporter } = await import('../reporters/tui/index.js');
    return createTuiReporter({ control: { cancel }, color, stay });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
