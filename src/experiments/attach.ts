// `flow attach [run]`: the TUI (or the plain reporter off a terminal) on a run
// another flow process drives — a second terminal, a nohup or tmux job. It
// follows the run live from the store and the log files (follow.ts) until the
// run ends, read-only: q leaves the run running.

import type { EngineEvent, Reporter } from '../events.js';
import { runSteps } from './run-steps.js';
import type { DB } from '../store/db.js';
import type { RunRow } from '../store/records.js';
import { RunFollower } from './follow.js';

export class AttachError extends Error {}

/** The run to follow: the id or unique prefix given, else the newest running run, else the newest run. */
export function pickRun(db: DB, idOrPrefix?: string): RunRow {
  if (idOrPrefix && idOrPrefix !== 'last' && idOrPrefix !== 'latest') {
    const hits = db.prepare('SELECT * FROM runs WHERE id = ? OR id LIKE ? ORDER BY rowid DESC').all(idOrPrefix, `${idOrPrefix}%`) as RunRow[];
    const exact = hits.find((r) => r.id === idOrPrefix);
    if (exact) return exact;
    if (hits.length === 0) throw new AttachError(`no run ${idOrPrefix} in this cache (flow status lists runs)`);
    if (hits.length > 1) throw new AttachError(`run ${idOrPrefix} is ambiguous: ${hits.map((r) => r.id).join(', ')}`);
    return hits[0]!;
  }
  const running = db.prepare("SELECT * FROM runs WHERE status = 'running' ORDER BY rowid DESC LIMIT 1").get() as RunRow | undefined;
  const latest = running ?? (db.prepare('SELECT * FROM runs ORDER BY rowid DESC LIMIT 1').get() as RunRow | undefined);
  if (!latest) throw new AttachError('no runs recorded in this cache yet');
  return latest;
}

export interface AttachOptions {
  db: DB;
  run: RunRow;
  reporter: Reporter;
  /** How often the store and the logs are read. */
  pollMs?: number;
  signal?: AbortSignal;
}

/**
 * Feeds the reporter until the run ends or the user quits (q, or the signal).
 * Resolves with the run's status ('detached' when left before its end).
 */
export async function followRun(opts: AttachOptions): Promise<'done' | 'failed' | 'cancelled' | 'detached'> {
  const { reporter } = opts;
  let status: 'done' | 'failed' | 'cancelled' | undefined;
  const emit = (e: EngineEvent) => {
    if (e.type === 'run-end') status = e.status;
    reporter.onEvent(e);
  };
  const follower = new RunFollower(opts.db, opts.run.id, runSteps(opts.run.recipe, JSON.parse(opts.run.argv) as string[]), emit);
  let quit = false;
  // The TUI's q answers nextAction with quit, during the run or (with --stay) after it.
  const next = reporter.nextAction?.().then(() => {
    quit = true;
  });
  const pollMs = opts.pollMs ?? 250;
  while (!quit && !opts.signal?.aborted) {
    if (follower.poll()) break;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  if (status && next && !opts.signal?.aborted) await next;
  return status ?? 'detached';
}
