// flow status / log / dag / gc: reading the records and the store.

import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { buildGraph } from '../graph/dag.js';
import { UsageError } from '../recipe/errors.js';
import { loadRecipe } from '../recipe/load.js';
import { expandMatrix } from '../recipe/matrix.js';
import { formatBytes, formatDuration } from '../reporters/format.js';
import { cacheDirFrom, openWorkspace } from '../scheduler/workspace.js';
import { EXIT, parse } from './args.js';

export async function cmdStatus(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { limit: { type: 'string' } });
  const ws = openWorkspace(cacheDirFrom(values['cache-dir'] as string | undefined));
  try {
    ws.records.markCrashedRuns();
    const out: string[] = [];
    if (positionals[0]) {
      const run = ws.records.findRun(positionals[0]);
      if (!run) throw new UsageError(`no run "${positionals[0]}" in ${ws.cacheDir}`);
      out.push(`run ${run.id}  ${run.name}  ${run.status}  ${new Date(run.started_at).toISOString()}  ${run.recipe}`);
      for (const e of ws.records.executions(run.id)) {
        const d = e.duration_ms !== null ? formatDuration(e.duration_ms) : '';
        out.push(`  ${e.step_id.padEnd(24)} ${e.status.padEnd(9)} ${d.padStart(8)}  ${e.key?.slice(0, 12) ?? ''}${e.error ? `  ${e.error.split('\n')[0]}` : ''}`);
      }
    } else {
      const runs = ws.records.recentRuns(Number(values.limit ?? 10));
      if (!runs.length) out.push(`no runs yet in ${ws.cacheDir}`);
      for (const r of runs) {
        const execs = ws.records.executions(r.id);
        const n = (s: string) => execs.filter((e) => e.status === s).length;
        const dur = r.ended_at ? formatDuration(r.ended_at - r.started_at) : '';
        out.push(`${r.id}  ${r.name.padEnd(16)} ${r.status.padEnd(9)} ${dur.padStart(8)}  ${n('done')} ran, ${n('cached')} cached${n('failed') ? `, ${n('failed')} failed` : ''}`);
      }
    }
    process.stdout.write(`${out.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    ws.close();
  }
}

export async function cmdLog(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, {});
  if (positionals.length !== 2) throw new UsageError('usage: flow log <run|last> <step>');
  const ws = openWorkspace(cacheDirFrom(values['cache-dir'] as string | undefined));
  try {
    const run = ws.records.findRun(positionals[0]!);
    if (!run) throw new UsageError(`no run "${positionals[0]}" in ${ws.cacheDir}`);
    const exec = ws.records.executions(run.id).filter((e) => e.step_id === positionals[1]).pop();
    if (!exec) throw new UsageError(`run ${run.id} has no step "${positionals[1]}"`);
    if (!exec.log_path) throw new UsageError(`step ${exec.step_id} of run ${run.id} has no log`);
    process.stdout.write(await readFile(exec.log_path, 'utf8'));
    return EXIT.ok;
  } finally {
    ws.close();
  }
}

export async function cmdDag(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { format: { type: 'string' }, set: { type: 'string', multiple: true } });
  if (positionals.length !== 1) throw new UsageError('usage: flow dag <recipe> [--format mermaid|dot]');
  const format = (values.format as string | undefined) ?? 'mermaid';
  if (format !== 'mermaid' && format !== 'dot') throw new UsageError(`--format ${format}: expected mermaid or dot`);
  const recipe = expandMatrix(loadRecipe(positionals[0]!, (values.set as string[]) ?? []));
  const graph = buildGraph(recipe);
  const label = (id: string) => {
    const s = recipe.steps[id]!;
    return `${id}\\n${s.uses ?? 'run'}`;
  };
  const lines: string[] = [];
  if (format === 'mermaid') {
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

/**
 * Keeps the entries the last N runs used; deletes other entries, objects no
 * entry links to any more, work dirs of finished executions, and tmp/.
 */
export async function cmdGc(argv: string[]): Promise<number> {
  const { values } = parse(argv, { keep: { type: 'string' } });
  const keep = Number(values.keep ?? 5);
  if (!Number.isInteger(keep) || keep < 0) throw new UsageError(`--keep ${values.keep}: expected a whole number`);
  const ws = openWorkspace(cacheDirFrom(values['cache-dir'] as string | undefined));
  try {
    ws.records.markCrashedRuns();
    const running = ws.db.prepare<[], { n: number }>("SELECT count(*) n FROM runs WHERE status = 'running'").get()!.n;
    if (running) throw new UsageError(`${running} run(s) in progress on ${ws.cacheDir}; gc when they end`);
    const runs = ws.records.recentRuns(keep).map((r) => r.id);
    const live = new Set<string>();
    for (const r of runs) for (const e of ws.records.executions(r)) if (e.key) live.add(e.key);
    let freed = 0;
    let removed = 0;
    const sizeOf = async (p: string): Promise<number> => {
      const st = await stat(p).catch(() => undefined);
      if (!st) return 0;
      if (!st.isDirectory()) return st.nlink <= 1 ? st.size : 0;
      let n = 0;
      for (const e of await readdir(p)) n += await sizeOf(join(p, e));
      return n;
    };
    for (const key of await readdir(ws.store.steps).catch(() => [] as string[])) {
      if (live.has(key)) continue;
      await ws.store.removeEntry(key);
      removed++;
    }
    // Scratch first: a half-built entry in tmp/ (a kill during commit) still links objects.
    for (const dir of [ws.store.work, ws.store.tmp]) {
      freed += await sizeOf(dir);
      await rm(dir, { recursive: true, force: true });
    }
    // An object whose only link is its own name is no longer part of any entry.
    const dropObject = ws.db.prepare('DELETE FROM objects WHERE digest = ?');
    for (const shard of await readdir(ws.store.objects).catch(() => [] as string[])) {
      for (const name of await readdir(join(ws.store.objects, shard))) {
        const p = join(ws.store.objects, shard, name);
        const st = await stat(p);
        if (st.nlink <= 1) {
          freed += st.size;
          await rm(p, { force: true });
          dropObject.run(name);
        }
      }
    }
    ws.locks.removeStale();
    process.stdout.write(`gc: kept entries of the last ${runs.length} run(s); removed ${removed} entr${removed === 1 ? 'y' : 'ies'}, freed ${formatBytes(freed)}\n`);
    return EXIT.ok;
  } finally {
    ws.close();
  }
}

/** Re-hashes every object in the store, like `git fsck`; `--repair` quarantines damaged ones and drops their entries. */
export async function cmdVerify(argv: string[]): Promise<number> {
  const { values } = parse(argv, { repair: { type: 'boolean' } });
  const ws = openWorkspace(cacheDirFrom(values['cache-dir'] as string | undefined));
  try {
    const r = await ws.store.verifyAll(Boolean(values.repair));
    process.stdout.write(`verify: ${r.objects} objects, ${formatBytes(r.bytes)} hashed; ${r.damaged.length} damaged, ${r.entries.length} entr${r.entries.length === 1 ? 'y' : 'ies'} affected\n`);
    for (const d of r.damaged) process.stdout.write(`  damaged object ${d}\n`);
    for (const k of r.entries) process.stdout.write(`  ${values.repair ? 'removed' : 'damaged'} entry ${k} (re-runs on the next run)\n`);
    return r.damaged.length && !values.repair ? EXIT.failed : EXIT.ok;
  } finally {
    ws.close();
  }
}

/** `flow doctor --rebuild`: a new database whose cache index is rebuilt from the entries' own manifests, re-hashed. */
export async function cmdDoctor(argv: string[]): Promise<number> {
  const { values } = parse(argv, { rebuild: { type: 'boolean' } });
  if (!values.rebuild) throw new UsageError('flow doctor: nothing to do; use --rebuild to rebuild the cache index from the entries');
  const cacheDir = cacheDirFrom(values['cache-dir'] as string | undefined);
  const file = join(cacheDir, 'flow.db');
  const aside = `${file}.old-${Date.now()}`;
  for (const ext of ['', '-wal', '-shm']) await rename(file + ext, aside + ext).catch(() => undefined);
  const ws = openWorkspace(cacheDir);
  try {
    let ok = 0;
    let bad = 0;
    for (const key of await readdir(ws.store.steps).catch(() => [] as string[])) {
      const r = await ws.store.inspect(key);
      if (r.entry) ok++;
      else if (r.damaged) {
        bad++;
        process.stdout.write(`  ${key}: ${r.damaged}; removed\n`);
      }
    }
    process.stdout.write(`doctor: rebuilt the cache index: ${ok} entr${ok === 1 ? 'y' : 'ies'} verified, ${bad} damaged and removed; the old database is ${aside}\n`);
    return EXIT.ok;
  } finally {
    ws.close();
  }
}
