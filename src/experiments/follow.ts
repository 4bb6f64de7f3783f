// Follows a run that another flow process drives, from what that process
// leaves behind: its rows in the SQLite store (runs, executions, metrics) and
// its steps' log files. Each poll turns what changed into the same engine
// events a live run emits, so any reporter (the TUI, the plain one) can show
// it. Read-only: nothing here writes to the store.

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { EngineEvent, Progress, StepInfo } from '../events.js';
import { isAlive } from '../proc/identity.js';
import type { DB } from '../store/db.js';
import type { ExecutionRow, RunRow } from '../store/records.js';
import { parseJson } from './records.js';

type RunEndCounts = Extract<EngineEvent, { type: 'run-end' }>['counts'];

/** An execution row's kept progress (StepRun.keepProgress). */
type KeptProgress = Progress & { time: number };

interface Followed {
  started: boolean;
  final: boolean;
  status: string;
  logOffset: number;
  partial: string;
}

/** Most bytes of a log read in one poll: a huge backlog is caught up over a few polls, not at once. */
const READ_CHUNK = 1 << 20;

export class RunFollower {
  private started = false;
  private ended = false;
  private readonly execs = new Map<string, Followed>();
  private metricCursor = 0;
  /** Latest value of each series per step: a progress event carries them all, as a live one does. */
  private readonly values = new Map<string, Record<string, number>>();
  /** The kept-progress JSON last emitted per execution, and the furthest progress shown per step. */
  private readonly keptSeen = new Map<string, string>();
  private readonly shownCurrent = new Map<string, number>();
  private readonly counts: RunEndCounts = { done: 0, cached: 0, failed: 0, cancelled: 0, skipped: 0 };
  private savedMs = 0;

  constructor(
    private readonly db: DB,
    readonly runId: string,
    /** The run's steps in order, when the recipe could be read; otherwise rows appear as steps start. */
    private readonly steps: StepInfo[] | undefined,
    private readonly emit: (e: EngineEvent) => void,
    /** Whether the process that drives the run is alive; a run left `running` by a dead one has crashed. */
    // pid and start time (proc/identity), as everywhere: a reused pid is not the driver.
    private readonly alive: (pid: number, start: string | null) => boolean = isAlive,
  ) {}

  get done(): boolean {
    return this.ended;
  }

  /** Emits what changed since the last poll; returns true once the run has ended (run-end emitted). */
  poll(): boolean {
    if (this.ended) return true;
    const run = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(this.runId) as RunRow | undefined;
    if (!run) throw new Error(`run ${this.runId} is not in this cache`);
    const runId = this.runId;
    if (!this.started) {
      this.started = true;
      this.emit({ type: 'run-start', runId, recipe: run.recipe, name: run.name, steps: this.steps ?? [], time: run.started_at });
    }
    const rows = this.db
      .prepare('SELECT * FROM executions WHERE run_id = ? ORDER BY started_at, rowid')
      .all(runId) as ExecutionRow[];
    for (const row of rows) this.followExec(row);
    this.followMetrics(rows);
    this.followProgress(rows);
    // The run row is read last: a final status seen here means every execution row before it is final too.
    const now = this.db.prepare('SELECT status, ended_at, pid, pid_start FROM runs WHERE id = ?').get(runId) as Pick<RunRow, 'status' | 'ended_at' | 'pid' | 'pid_start'>;
    let status = now.status;
    if (status === 'running' && !this.alive(now.pid, now.pid_start)) {
      this.emit({ type: 'warning', runId, message: `the flow process running this run (pid ${now.pid}) is gone`, time: Date.now() });
      status = 'crashed';
    }
    if (status === 'running') return false;
    for (const row of this.db.prepare('SELECT * FROM executions WHERE run_id = ? ORDER BY started_at, rowid').all(runId) as ExecutionRow[]) {
      this.followExec(row, status === 'crashed');
    }
    const seen = new Set(rows.map((r) => r.step_id));
    for (const s of this.steps ?? []) {
      if (seen.has(s.id) || status === 'done') continue;
      this.counts.skipped++;
      this.emit({ type: 'step-skipped', runId, step: s.id, reason: `did not run (run ${status})`, time: now.ended_at ?? Date.now() });
    }
    const endStatus = status === 'done' ? 'done' : status === 'cancelled' ? 'cancelled' : 'failed';
    const endedAt = now.ended_at ?? Date.now();
    this.emit({ type: 'run-end', runId, status: endStatus, durationMs: endedAt - run.started_at, savedMs: this.savedMs, counts: { ...this.counts }, time: endedAt });
    this.ended = true;
    return true;
  }

  private followExec(row: ExecutionRow, crashed = false): void {
    const runId = this.runId;
    let f = this.execs.get(row.id);
    if (!f) {
      f = { started: false, final: false, status: row.status, logOffset: 0, partial: '' };
      this.execs.set(row.id, f);
    }
    if (f.final) return;
    const step = row.step_id;
    if (row.status === 'cached') {
      const entry = this.db.prepare('SELECT duration_ms FROM entries WHERE key = ?').get(row.key) as { duration_ms: number } | undefined;
      const savedMs = entry?.duration_ms ?? 0;
      this.savedMs += savedMs;
      this.counts.cached++;
      f.final = true;
      this.emit({ type: 'step-cached', runId, step, key: row.key ?? '', savedMs, outputs: parseJson(row.outputs) ?? {}, metrics: parseJson(row.metrics) ?? undefined, time: row.started_at });
      return;
    }
    if (!f.started) {
      f.started = true;
      this.emit({ type: 'step-start', runId, step, key: row.key ?? '', execId: row.id, reasons: parseJson<string[]>(row.reasons) ?? [], gpus: parseJson(row.gpus) ?? [], logPath: row.log_path ?? '', time: row.started_at });
    }
    this.tailLog(row, f);
    const time = row.ended_at ?? Date.now();
    const durationMs = row.duration_ms ?? time - row.started_at;
    switch (row.status) {
      case 'running':
        if (!crashed) return;
        this.counts.failed++;
        this.emit({ type: 'step-failed', runId, step, durationMs, exitCode: null, reason: 'internal', error: 'crashed: the flow process running it is gone', logPath: row.log_path ?? undefined, time });
        break;
      case 'done':
        this.counts.done++;
        this.emit({ type: 'step-done', runId, step, key: row.key ?? '', durationMs, outputs: parseJson(row.outputs) ?? {}, metrics: parseJson(row.metrics) ?? undefined, time });
        break;
      case 'cancelled':
        this.counts.cancelled++;
        this.emit({ type: 'step-cancelled', runId, step, time });
        break;
      default:
        // failed, crashed
        this.counts.failed++;
        this.emit({
          type: 'step-failed',
          runId,
          step,
          durationMs,
          exitCode: row.exit_code,
          reason: row.exit_code !== null ? 'exit-code' : 'internal',
          error: (row.error ?? row.status).split('\n')[0]!,
          logPath: row.log_path ?? undefined,
          time,
        });
    }
    f.final = true;
  }

  /** New complete lines of the step's log file since the last poll. */
  private tailLog(row: ExecutionRow, f: Followed): void {
    if (!row.log_path) return;
    const final = row.status !== 'running';
    let fd: number;
    try {
      fd = openSync(row.log_path, 'r');
    } catch {
      return; // Not created yet, or gone (gc): the row still shows the step.
    }
    try {
      for (;;) {
        const size = fstatSync(fd).size;
        if (size <= f.logOffset) break;
        const length = Math.min(size - f.logOffset, READ_CHUNK);
        const buf = Buffer.alloc(length);
        const n = readSync(fd, buf, 0, length, f.logOffset);
        if (n === 0) break;
        f.logOffset += n;
        const text = f.partial + buf.subarray(0, n).toString('utf8');
        const lines = text.split('\n');
        f.partial = lines.pop()!;
        for (const line of lines) this.emit({ type: 'step-log', runId: this.runId, step: row.step_id, stream: 'stdout', line, time: Date.now() });
        if (!final) break;
      }
      if (final && f.partial) {
        this.emit({ type: 'step-log', runId: this.runId, step: row.step_id, stream: 'stdout', line: f.partial, time: Date.now() });
        f.partial = '';
      }
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Series points (loss at step n) recorded since the last poll, as progress: each one feeds the
   * loss chart, and carries the total and unit of the step's kept progress (its row's), which a
   * series point does not record.
   */
  private followMetrics(execs: ExecutionRow[]): void {
    const kept = new Map(execs.flatMap((r) => {
      const p = parseJson<KeptProgress>(r.progress);
      return p ? [[r.step_id, p] as const] : [];
    }));
    const rows = this.db
      .prepare(
        `SELECT m.rowid AS rowid, e.step_id AS step_id, m.name AS name, m.value AS value, m.step AS at, m.time AS time
         FROM metrics m JOIN executions e ON e.id = m.exec_id
         WHERE e.run_id = ? AND e.status != 'cached' AND m.step IS NOT NULL AND m.rowid > ?
         ORDER BY m.rowid`,
      )
      .all(this.runId, this.metricCursor) as Array<{ rowid: number; step_id: string; name: string; value: number; at: number; time: number }>;
    for (const m of rows) {
      this.metricCursor = m.rowid;
      const values = { ...this.values.get(m.step_id), [m.name]: m.value };
      this.values.set(m.step_id, values);
      const p = kept.get(m.step_id);
      this.emitProgress(m.step_id, { ...(p?.total !== undefined ? { total: p.total } : {}), current: m.at, unit: p?.unit ?? 'steps', values }, m.time);
    }
  }

  /** The latest progress each running step kept in its row (StepRun.keepProgress): bar, total, unit, values. */
  private followProgress(rows: ExecutionRow[]): void {
    for (const row of rows) {
      if (row.status !== 'running' || !row.progress || row.progress === this.keptSeen.get(row.id)) continue;
      this.keptSeen.set(row.id, row.progress);
      const { time, ...progress } = parseJson<KeptProgress>(row.progress)!;
      const values = { ...this.values.get(row.step_id), ...progress.values };
      this.values.set(row.step_id, values);
      this.emitProgress(row.step_id, { ...progress, values }, time);
    }
  }

  /** A progress event, unless it goes back behind one already shown (a series point can be ahead of the kept row). */
  private emitProgress(step: string, progress: Progress, time: number): void {
    const shown = this.shownCurrent.get(step);
    if (shown !== undefined && progress.current < shown) return;
    this.shownCurrent.set(step, progress.current);
    this.emit({ type: 'step-progress', runId: this.runId, step, progress, time });
  }
}

