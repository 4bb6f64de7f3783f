// flow run / plan / validate.

import type { EngineEvent, Reporter } from '../events.js';
import { displayPath } from '../recipe/load.js';
import { makePlan, type Plan, type PlanOptions } from '../scheduler/plan.js';
import { failpoint } from '../cache/failpoint.js';
import { holdForRun } from '../cache/run-lock.js';
import { cannotWrite } from '../store/records.js';
import { cacheDirFrom, openWorkspace, type Workspace } from '../scheduler/workspace.js';
import { analyzeOrThrow } from '../steps/analyze.js';
import { EXIT, list } from './args.js';
import { errorEventsOf } from './error-event.js';
import { createStepRegistry } from './registry.js';

/** The flags that change a plan: `flow plan` and `flow run` take the same ones, checked the same way. */
interface PlanFlags {
  only?: string;
  from?: string;
  until?: string;
  force?: string;
  forceAll?: boolean;
  set: string[];
  cacheDir?: string;
  executor?: string;
  gpus?: string;
  allowCpu?: boolean;
}

function planOptions(o: PlanFlags, recipeFile: string): PlanOptions {
  return {
    recipeFile, sets: o.set, only: list(o.only), from: o.from, until: o.until, force: list(o.force), forceAll: Boolean(o.forceAll),
    executor: o.executor, gpus: o.gpus, allowCpu: Boolean(o.allowCpu),
  };
}

export async function cmdValidate(file: string, o: { set: string[] }): Promise<number> {
  const { recipe, warnings } = await analyzeOrThrow(file, o.set, createStepRegistry());
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  process.stdout.write(`ok: ${displayPath(recipe.file)} (${Object.keys(recipe.steps).length} steps)\n`);
  return EXIT.ok;
}

export async function cmdPlan(file: string, o: PlanFlags & { json?: boolean }): Promise<number> {
  const ws = openWorkspace(cacheDirFrom(o.cacheDir, file), { readOnly: true });
  try {
    printPlan(await makePlan(ws, createStepRegistry(), { ...planOptions(o, file), repair: false }), Boolean(o.json));
    return EXIT.ok;
  } finally {
    ws.close();
  }
}

function printPlan(plan: Plan, json: boolean): void {
  for (const w of plan.warnings) process.stderr.write(`warning: ${w}\n`);
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

interface RunFlags extends PlanFlags {
  dryRun?: boolean;
  jobs: number;
  ui?: 'tui' | 'plain' | 'json';
  color?: boolean;
  stay?: boolean;
}

export async function cmdRun(file: string, o: RunFlags, fullArgv: string[]): Promise<number> {
  const ui = o.ui ?? (process.stdout.isTTY && process.stdin.isTTY ? 'tui' : 'plain');
  try {
    return await runCommand(file, o, ui, fullArgv);
  } catch (e) {
    // A bad recipe or bad arguments: in the JSON stream too, then the usual one line on stderr.
    if (ui === 'json') for (const event of errorEventsOf(e)) process.stdout.write(`${JSON.stringify(event)}\n`);
    throw e;
  }
}

async function runCommand(file: string, o: RunFlags, ui: 'tui' | 'plain' | 'json', fullArgv: string[]): Promise<number> {
  const color = o.color !== false && !process.env.NO_COLOR && (o.color === true || Boolean(process.stdout.isTTY));
  const cacheDir = cacheDirFrom(o.cacheDir, file);
  // Held from before the plan to the end (run-lock.ts): gc and doctor --rebuild never remove
  // what this run chose to reuse, its work dirs or its database under it.
  const hold = await holdForRun(cacheDir, new AbortController().signal, (pid) =>
    process.stderr.write(`flow: waiting for flow gc or doctor (pid ${pid}) to finish with this cache\n`),
  );
  let ws: Workspace;
  try {
    ws = openWorkspace(cacheDir);
    ws.store.pins.hold();
  } catch (e) {
    await hold.release();
    throw e;
  }
  // SIGINT/SIGTERM/SIGHUP (the terminal closed) end the whole command; the TUI's cancel key ends only the current run,
  // after which the TUI shows its summary and may ask for a re-run.
  const signals = new AbortController();
  let current = new AbortController();
  // A second signal does not wait for the steps to stop: flow exits now, and its exit kills their
  // groups (process-group.ts) and the launcher kills what they left (launcher.py).
  let signalled = false;
  const onSignal = () => {
    if (signalled) {
      process.stderr.write('flow: second signal: stopping at once\n');
      process.exit(EXIT.cancelled);
    }
    signalled = true;
    signals.abort();
    current.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  let reporter: Reporter | undefined;
  try {
    const registry = createStepRegistry();
    let opts = planOptions(o, file);
    let plan = await makePlan(ws, registry, opts);
    failpoint('run:planned');
    if (o.dryRun) {
      printPlan(plan, ui === 'json');
      return EXIT.ok;
    }
    reporter = await createReporter(ui, color, () => current.abort(), Boolean(o.stay));
    const emit = (e: EngineEvent) => reporter!.onEvent(e);
    // The recipe's trackers get the run's figures once it ends, whatever its outcome.
    const track = async (p: Plan, runId: string) => {
      if (!p.recipe.reportTo) return;
      const { logRunToTrackers } = await import('./trackers.js');
      await logRunToTrackers(ws, p.recipe, runId, (message) => emit({ type: 'warning', runId, message, time: Date.now() }));
    };
    const runOpts = () => ({ jobs: o.jobs, gpus: o.gpus, argv: fullArgv, signal: current.signal, emit });
    // Loaded only when something runs: `flow plan` and `--dry-run` never need the executors.
    const { executePlan } = await import('../scheduler/run.js');
    let result = await executePlan(ws, plan, runOpts());
    await track(plan, result.runId);
    // The TUI can ask for a single step to run again; keep serving it until the user quits.
    while (reporter.nextAction && !signals.signal.aborted) {
      const next = await reporter.nextAction();
      if (next.type === 'quit' || signals.signal.aborted) break;
      opts = { ...opts, only: undefined, from: next.step, until: undefined, force: [next.step], forceAll: false };
      ws.files.forget();
      current = new AbortController();
      plan = await makePlan(ws, registry, opts);
      result = await executePlan(ws, plan, runOpts());
      await track(plan, result.runId);
    }
    return result.status === 'done' ? EXIT.ok : result.status === 'cancelled' ? EXIT.cancelled : EXIT.failed;
  } finally {
    await reporter?.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
    try {
      ws.store.pins.releaseAll();
    } catch (e) {
      // A full or read-only database: the pins of an ended process count for nothing anyway.
      if (!cannotWrite(e)) throw e;
    }
    ws.close();
    await hold.release();
  }
}

async function createReporter(ui: string, color: boolean, cancel: () => void, stay: boolean): Promise<Reporter> {
  if (ui === 'json') return (await import('../reporters/json.js')).createJsonReporter();
  if (ui === 'plain') return (await import('../reporters/plain.js')).createPlainReporter({ color });
  return (await import('../reporters/tui/load.js')).loadTuiReporter({ control: { cancel }, color, stay });
}
