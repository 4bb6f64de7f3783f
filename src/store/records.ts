// Reads and writes run and execution records. The engine's only door into
// the runs/executions/metrics tables.

import { isAlive, SELF_START } from '../proc/identity.js';
import type { DB } from './db.js';
import { flattenMetrics, statementCache } from './db.js';
import { resolveRun, type RunRow } from './runs.js';

/** A step's cache fingerprint as stored (the cache layer defines its fields). */
export type StoredFingerprint = object;

export type { RunRow } from './runs.js';

/** How an execution ended, as finishExecution records it. */
type Finished = { status: 'done' | 'failed' | 'cancelled'; durationMs: number; exitCode?: number | null; outputs?: Record<string, string>; metrics?: unknown; error?: string };

/** What every execution row starts from: which step of which run, under which key. */
interface NewExecution {
  id: string;
  runId: string;
  stepId: string;
  stepType: string;
  variant?: Record<string, unknown>;
  key: string;
  fingerprint: StoredFingerprint;
}

/** A cache hit, as recordCached records it. */
interface CachedExecution extends NewExecution {
  outputs: Record<string, string>;
  originalExecId: string;
}

export interface ExecutionRow {
  id: string;
  run_id: string;
  step_id: string;
  step_type: string;
  variant: string | null;
  key: string | null;
  status: string;
  started_at: number;
  ended_at: number | null;
  duration_ms: number | null;
  exit_code: number | null;
  log_path: string | null;
  outputs: string | null;
  fingerprint: string | null;
  metrics: string | null;
  error: string | null;
  gpus: string | null;
  reasons: string | null;
  progress: string | null;
}

const LAST_FINGERPRINT = `SELECT e.fingerprint FROM executions e JOIN runs r ON r.id = e.run_id
  WHERE r.name = ? AND e.step_id = ? AND e.status IN ('done', 'cached') AND e.fingerprint IS NOT NULL
  ORDER BY e.rowid DESC LIMIT 1`;

/**
 * LAST_FINGERPRINT for every step at once: the latest rows are picked without reading their
 * fingerprints (which can be megabytes: one digest per input file), then only those are read.
 */
const LAST_FINGERPRINTS = `SELECT step_id, fingerprint FROM executions WHERE rowid IN (
  SELECT id FROM (
    SELECT e.rowid AS id, ROW_NUMBER() OVER (PARTITION BY e.step_id ORDER BY e.rowid DESC) AS n
    FROM executions e JOIN runs r ON r.id = e.run_id
    WHERE r.name = ? AND e.status IN ('done', 'cached') AND e.fingerprint IS NOT NULL)
  WHERE n = 1)`;

/** The status of each step's latest execution under a recipe name (whatever it was). */
const LAST_STATUSES = `SELECT step_id, status FROM (
  SELECT e.step_id, e.status, ROW_NUMBER() OVER (PARTITION BY e.step_id ORDER BY e.started_at DESC, e.rowid DESC) AS n
  FROM executions e JOIN runs r ON r.id = e.run_id WHERE r.name = ?)
  WHERE n = 1`;

export class Records {
  private readonly sql;

  // Transactions made once: better-sqlite3 builds four wrapper functions per db.transaction() call.
  private readonly finishTx: (id: string, r: Finished, now: number) => void;
  private readonly cachedTx: (e: CachedExecution, orig: { metrics: string | null; log_path: string | null } | undefined, now: number) => void;

  constructor(readonly db: DB) {
    this.sql = statementCache(db);
    this.finishTx = db.transaction((id: string, r: Finished, now: number) => {
      this.sql('UPDATE executions SET status = ?, ended_at = ?, duration_ms = ?, exit_code = ?, outputs = ?, metrics = ?, error = ? WHERE id = ?')
        .run(
          r.status,
          now,
          r.durationMs,
          r.exitCode ?? null,
          r.outputs ? JSON.stringify(r.outputs) : null,
          r.metrics !== undefined ? JSON.stringify(r.metrics) : null,
          r.error ?? null,
          id,
        );
      this.addMetric(id, 'duration_ms', r.durationMs, null, now);
      if (r.metrics !== undefined) for (const [name, value] of flattenMetrics(r.metrics)) this.addMetric(id, name, value, null, now);
    });
    this.cachedTx = db.transaction((e: CachedExecution, orig: { metrics: string | null; log_path: string | null } | undefined, now: number) => {
      this.sql(
        `INSERT INTO executions (id, run_id, step_id, step_type, variant, key, status, started_at, ended_at, duration_ms, log_path, outputs, fingerprint, metrics)
         VALUES (?, ?, ?, ?, ?, ?, 'cached', ?, ?, 0, ?, ?, ?, ?)`,
      ).run(e.id, e.runId, e.stepId, e.stepType, e.variant ? JSON.stringify(e.variant) : null, e.key, now, now, orig?.log_path ?? null, JSON.stringify(e.outputs), JSON.stringify(e.fingerprint), orig?.metrics ?? null);
      // Copy the original's metric rows (series included) so this run's history is complete.
      this.sql('INSERT INTO metrics (exec_id, name, value, step, time) SELECT ?, name, value, step, time FROM metrics WHERE exec_id = ? AND name != ?')
        .run(e.id, e.originalExecId, 'duration_ms');
    });
  }

  createRun(run: { id: string; recipe: string; name: string; params: Record<string, unknown>; argv: string[] }): void {
    this.sql('INSERT INTO runs (id, recipe, name, status, started_at, params, argv, pid, pid_start) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(run.id, run.recipe, run.name, 'running', Date.now(), JSON.stringify(run.params), JSON.stringify(run.argv), process.pid, SELF_START);
  }

  finishRun(id: string, status: 'done' | 'failed' | 'cancelled'): void {
    this.sql('UPDATE runs SET status = ?, ended_at = ? WHERE id = ?').run(status, Date.now(), id);
  }

  /** Runs whose flow process is alive (pid and start time): what `running` rows a crash left do not count. */
  liveRuns(): number {
    const rows = this.sql<[], { pid: number; pid_start: string | null }>("SELECT pid, pid_start FROM runs WHERE status = 'running'").all();
    return rows.filter((r) => isAlive(r.pid, r.pid_start)).length;
  }

  /** Runs left 'running' by a flow process that no longer exists (killed, crashed) become 'crashed'. */
  markCrashedRuns(): void {
    const rows = this.sql<[], { id: string; pid: number; pid_start: string | null }>("SELECT id, pid, pid_start FROM runs WHERE status = 'running'").all();
    for (const r of rows) {
      if (isAlive(r.pid, r.pid_start)) continue;
      try {
        this.db.transaction(() => {
          this.sql("UPDATE runs SET status = 'crashed', ended_at = COALESCE(ended_at, ?) WHERE id = ?").run(Date.now(), r.id);
          this.sql("UPDATE executions SET status = 'crashed', ended_at = COALESCE(ended_at, ?) WHERE run_id = ? AND status = 'running'")
            .run(Date.now(), r.id);
        })();
      } catch (e) {
        // A full disk, a read-only or another user's cache: a command that only reports must still
        // report (the run shows as running until a command that can write marks it).
        if (!cannotWrite(e)) throw e;
        return;
      }
    }
  }

  startExecution(e: NewExecution & { logPath: string; gpus: number[]; reasons: string[] }): void {
    this.sql(
      `INSERT INTO executions (id, run_id, step_id, step_type, variant, key, status, started_at, log_path, fingerprint, gpus, reasons)
       VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?, ?, ?)`,
    ).run(e.id, e.runId, e.stepId, e.stepType, e.variant ? JSON.stringify(e.variant) : null, e.key, Date.now(), e.logPath, JSON.stringify(e.fingerprint), JSON.stringify(e.gpus), JSON.stringify(e.reasons));
  }

  /** A running execution's latest progress (JSON of the engine's Progress plus its time), for `flow attach`. */
  setProgress(execId: string, progressJson: string): void {
    this.sql('UPDATE executions SET progress = ? WHERE id = ?').run(progressJson, execId);
  }

  finishExecution(id: string, r: Finished): void {
    this.finishTx(id, r, Date.now());
  }

  /** A cache hit is recorded as an execution too, carrying the original's metrics, so history and compare see it. */
  recordCached(e: CachedExecution): { metrics?: unknown; logPath?: string } {
    const orig = this.sql<[string], { metrics: string | null; log_path: string | null }>('SELECT metrics, log_path FROM executions WHERE id = ?').get(e.originalExecId);
    this.cachedTx(e, orig, Date.now());
    return { metrics: orig?.metrics ? JSON.parse(orig.metrics) : undefined, logPath: orig?.log_path ?? undefined };
  }

  addMetric(execId: string, name: string, value: number, step: number | null, time = Date.now()): void {
    this.sql('INSERT INTO metrics (exec_id, name, value, step, time) VALUES (?, ?, ?, ?, ?)').run(execId, name, value, step, time);
  }

  /** The fingerprint of a step's last good execution in any run of a recipe of this name (not path: a moved checkout keeps its history). */
  lastFingerprint<F extends StoredFingerprint>(recipeName: string, stepId: string): F | undefined {
    const row = this.sql<[string, string], { fingerprint: string }>(LAST_FINGERPRINT).get(recipeName, stepId);
    return row ? (JSON.parse(row.fingerprint) as F) : undefined;
  }

  /** lastFingerprint of every step of a recipe name in one query: step id -> its fingerprint's JSON, unparsed. */
  lastFingerprintsJson(recipeName: string): Map<string, string> {
    return new Map(this.sql<[string], { step_id: string; fingerprint: string }>(LAST_FINGERPRINTS).all(recipeName).map((r) => [r.step_id, r.fingerprint]));
  }

  /** Step id -> the status of its latest execution under a recipe name ('failed', 'crashed', …). */
  lastStatuses(recipeName: string): Map<string, string> {
    return new Map(this.sql<[string], { step_id: string; status: string }>(LAST_STATUSES).all(recipeName).map((r) => [r.step_id, r.status]));
  }

  recentRuns(limit: number): RunRow[] {
    return this.sql<[number], RunRow>('SELECT * FROM runs ORDER BY rowid DESC LIMIT ?').all(limit);
  }

  /** A run by id, unique prefix or 'last'; throws RunLookupError (one line) otherwise. */
  findRun(idOrPrefix: string): RunRow {
    return resolveRun(this.db, idOrPrefix);
  }

  executions(runId: string): ExecutionRow[] {
    return this.sql<[string], ExecutionRow>('SELECT * FROM executions WHERE run_id = ? ORDER BY started_at, rowid').all(runId);
  }
}

/** SQLite could not write for a reason of the environment (full, read-only, busy), not of flow. */
export function cannotWrite(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && /^SQLITE_(FULL|READONLY|BUSY|IOERR|CANTOPEN|PERM)/.test(code);
}
