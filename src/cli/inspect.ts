// flow status / runs / log / dag: reading the records and the graph.

import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { UsageError } from '../recipe/errors.js';
import { didYouMean } from '../recipe/suggest.js';
import { lookupStep, whyNotStarted } from '../experiments/not-started.js';
import { recipeSteps } from '../experiments/run-steps.js';
import { renderTable } from '../experiments/table.js';
import { formatDuration } from '../reporters/format.js';
import { cacheDirFrom, openExistingWorkspace, type Workspace } from '../scheduler/workspace.js';
import { analyzeGraph } from '../steps/analyze.js';
import { renderTree } from '../graph/tree.js';
import { RunLookupError } from '../store/runs.js';
import { EXIT } from './args.js';

/** The run a user named, or a usage error (unknown, or an ambiguous prefix listing its matches). */
function runNamed(ws: Workspace, ref: string) {
  try {
    return ws.records.findRun(ref);
  } catch (e) {
    throw e instanceof RunLookupError ? new UsageError(e.message) : e;
  }
}

export async function cmdStatus(runRef: string | undefined, o: { limit: number; cacheDir?: string }): Promise<number> {
  const ws = openExistingWorkspace(cacheDirFrom(o.cacheDir), { readOnly: true });
  try {
    ws.records.markCrashedRuns();
    const out = runRef ? runLines(ws, runNamed(ws, runRef).id) : recentLines(ws, o.limit);
    process.stdout.write(`${out.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    ws.close();
  }
}

function runLines(ws: Workspace, runId: string): string[] {
  const run = ws.records.findRun(runId);
  const head = `run ${run.id}  ${run.name}  ${run.status}  ${new Date(run.started_at).toISOString()}  ${run.recipe}`;
  const rows = ws.records.executions(run.id).map((e) => [
    e.step_id,
    e.status,
    e.duration_ms !== null ? formatDuration(e.duration_ms) : '',
    e.key?.slice(0, 12) ?? '',
    e.error?.split('\n')[0] ?? '',
  ]);
  if (!rows.length) return [head, '(no step has started)'];
  // The error column only when a step has one: most runs have none.
  const errors = rows.some((r) => r[4]);
  const headers = ['STEP', 'STATUS', 'TIME', 'KEY', ...(errors ? ['ERROR'] : [])];
  return [head, ...renderTable('text', headers, errors ? rows : rows.map((r) => r.slice(0, 4)), 'llrll').trimEnd().split('\n')];
}

function recentLines(ws: Workspace, limit: number): string[] {
  const runs = ws.records.recentRuns(limit);
  if (!runs.length) return [`no runs yet in ${ws.cacheDir}`];
  const rows = runs.map((r) => {
    const execs = ws.records.executions(r.id);
    const n = (s: string) => execs.filter((e) => e.status === s).length;
    const dur = r.ended_at ? formatDuration(r.ended_at - r.started_at) : '';
    return [r.id, r.name, r.status, dur, String(n('done')), String(n('cached')), String(n('failed'))];
  });
  return renderTable('text', ['RUN', 'RECIPE', 'STATUS', 'TIME', 'RAN', 'CACHED', 'FAILED'], rows, 'lllrrrr').trimEnd().split('\n');
}

/**
 * A step execution's log. A step the recipe has but the run never started (skipped
 * after a failure, left out by --only, not reached yet) is one line saying why, exit 1
 * (nothing to show, as for a run without metrics); a name the recipe does not have is
 * a usage error, exit 2, with "did you mean".
 */
export async function cmdLog(runRef: string, step: string, o: { cacheDir?: string }): Promise<number> {
  const ws = openExistingWorkspace(cacheDirFrom(o.cacheDir), { readOnly: true });
  try {
    ws.records.markCrashedRuns();
    const run = runNamed(ws, runRef);
    const execs = ws.records.executions(run.id);
    /** Prints the step's log: the exit code, or undefined when the run has no execution of it. */
    const logOf = async (id: string): Promise<number | undefined> => {
      const exec = execs.filter((e) => e.step_id === id).pop();
      if (!exec) return undefined;
      if (!exec.log_path) throw new UsageError(`step ${exec.step_id} of run ${run.id} has no log`);
      // Recorded as an absolute path: a cache moved whole (docs/caching.md, Where the cache lives) has it in its own logs/.
      const text = await readFile(exec.log_path, 'utf8').catch(() => readFile(join(ws.store.layout.logs, basename(exec.log_path!)), 'utf8').catch(() => undefined));
      if (text === undefined) {
        // Nothing to show: exit 1, as for a step that never started.
        process.stderr.write(`error: the log of ${exec.step_id} in run ${run.id} is gone (${exec.log_path}; removed by gc?)\n`);
        return EXIT.failed;
      }
      process.stdout.write(text);
      return EXIT.ok;
    };
    const shown = await logOf(step);
    if (shown !== undefined) return shown;
    const steps = recipeSteps(run.recipe, JSON.parse(run.argv) as string[]);
    if (!steps) throw new UsageError(`run ${run.id} has no step "${step}"${didYouMean(step, new Set(execs.map((e) => e.step_id)))}`);
    const { ids, known } = lookupStep(steps, step);
    if (!ids.length) throw new UsageError(`no step "${step}" in recipe ${run.name} (steps: ${steps.all.map((s) => s.id).join(', ')})${didYouMean(step, known)}`);
    if (ids.length > 1) throw new UsageError(`step "${step}" has ${ids.length} instances in run ${run.id}: name one of ${ids.join(', ')}`);
    const instance = await logOf(ids[0]!);
    if (instance !== undefined) return instance;
    const statuses = new Map(execs.map((e) => [e.step_id, e.status]));
    process.stderr.write(`${whyNotStarted(steps, ids[0]!, run, statuses)}\n`);
    return EXIT.failed;
  } finally {
    ws.close();
  }
}

export async function cmdDag(file: string, o: { format: 'tree' | 'mermaid' | 'dot'; set: string[] }): Promise<number> {
  const { createStepRegistry } = await import('./registry.js');
  const { recipe, graph } = await analyzeGraph(file, o.set, createStepRegistry());
  const typeOf = (id: string) => recipe.steps[id]!.uses ?? 'run';
  const label = (id: string) => `${id}\\n${typeOf(id)}`;
  const lines: string[] = [];
  if (o.format === 'tree') {
    lines.push(`${recipe.name}: ${graph.order.length} steps`, ...renderTree(graph, typeOf));
  } else if (o.format === 'mermaid') {
    const node = (id: string) => `s${graph.order.indexOf(id)}`;
    lines.push('graph TD');
    for (const id of graph.order) lines.push(`  ${node(id)}["${label(id).replace('\\n', '<br/>')}"]`);
    for (const id of graph.order) for (const d of graph.deps.get(id)!) lines.push(`  ${node(d)} --> ${node(id)}`);
  } else {
    lines.push(`digraph "${recipe.name}" {`, '  rankdir=TB;', '  node [shape=box];');
    for (const id of graph.order) lines.push(`  "${id}" [label="${label(id)}"];`);
    for (const id of graph.order) for (const d of graph.deps.get(id)!) lines.push(`  "${d}" -> "${id}";`);
    lines.push('}');
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
