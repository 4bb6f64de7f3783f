// flow status / runs / log / dag: reading the records and the graph.

import { readFile } from 'node:fs/promises';
import { UsageError } from '../recipe/errors.js';
import { didYouMean } from '../recipe/suggest.js';
import { formatDuration } from '../reporters/format.js';
import { cacheDirFrom, openWorkspace, type Workspace } from '../scheduler/workspace.js';
import { analyzeGraph } from '../steps/analyze.js';
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
  const ws = openWorkspace(cacheDirFrom(o.cacheDir));
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
  const out = [`run ${run.id}  ${run.name}  ${run.status}  ${new Date(run.started_at).toISOString()}  ${run.recipe}`];
  for (const e of ws.records.executions(run.id)) {
    const d = e.duration_ms !== null ? formatDuration(e.duration_ms) : '';
    out.push(`  ${e.step_id.padEnd(24)} ${e.status.padEnd(9)} ${d.padStart(8)}  ${e.key?.slice(0, 12) ?? ''}${e.error ? `  ${e.error.split('\n')[0]}` : ''}`);
  }
  return out;
}

function recentLines(ws: Workspace, limit: number): string[] {
  const runs = ws.records.recentRuns(limit);
  if (!runs.length) return [`no runs yet in ${ws.cacheDir}`];
  return runs.map((r) => {
    const execs = ws.records.executions(r.id);
    const n = (s: string) => execs.filter((e) => e.status === s).length;
    const dur = r.ended_at ? formatDuration(r.ended_at - r.started_at) : '';
    return `${r.id}  ${r.name.padEnd(16)} ${r.status.padEnd(9)} ${dur.padStart(8)}  ${n('done')} ran, ${n('cached')} cached${n('failed') ? `, ${n('failed')} failed` : ''}`;
  });
}

export async function cmdLog(runRef: string, step: string, o: { cacheDir?: string }): Promise<number> {
  const ws = openWorkspace(cacheDirFrom(o.cacheDir));
  try {
    const run = runNamed(ws, runRef);
    const execs = ws.records.executions(run.id);
    const exec = execs.filter((e) => e.step_id === step).pop();
    if (!exec) throw new UsageError(`run ${run.id} has no step "${step}"${didYouMean(step, new Set(execs.map((e) => e.step_id)))}`);
    if (!exec.log_path) throw new UsageError(`step ${exec.step_id} of run ${run.id} has no log`);
    process.stdout.write(await readFile(exec.log_path, 'utf8'));
    return EXIT.ok;
  } finally {
    ws.close();
  }
}

export async function cmdDag(file: string, o: { format: 'mermaid' | 'dot'; set: string[] }): Promise<number> {
  const { recipe, graph } = analyzeGraph(file, o.set);
  const label = (id: string) => `${id}\\n${recipe.steps[id]!.uses ?? 'run'}`;
  const lines: string[] = [];
  if (o.format === 'mermaid') {
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
