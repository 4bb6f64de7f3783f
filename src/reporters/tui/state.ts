// The TUI's model of one run, folded from engine events. It is mutated in place:
// step-log events can arrive thousands of times a second and must cost O(1) each,
// so memory per step is bounded (a tail of log lines, a downsampled loss series,
// a few rate samples) whatever the length of the run.

import type { EngineEvent, Progress, StepInfo, StepStatus, SummaryTable } from '../../events.js';
import { formatDuration, tableOfMetrics } from '../format.js';

/** `pending`: known from run-start but no event about it yet. */
export type RowStatus = StepStatus | 'pending';

export interface LogLine {
  stream: 'stdout' | 'stderr';
  /** As the step printed it; pass through sanitizeLogLine before display. */
  text: string;
}

/** Bounded tail of a step's output; full logs live in the step's log file. */
export class LogTail {
  private lines: LogLine[] = [];
  total = 0;
  constructor(readonly capacity: number) {}

  push(line: LogLine): void {
    this.lines.push(line);
    this.total++;
    // Trim in batches so a push stays O(1) amortised.
    if (this.lines.length >= this.capacity * 2) this.lines.splice(0, this.lines.length - this.capacity);
  }

  last(n: number): LogLine[] {
    const from = Math.max(0, this.lines.length - Math.min(n, this.capacity));
    return this.lines.slice(from);
  }
}

/**
 * A series of any length kept in at most `capacity` buckets: when full, adjacent
 * buckets merge and each new bucket averages twice as many samples, so the
 * sparkline always spans the whole training run in constant memory.
 */
export class DownsampledSeries {
  private buckets: number[] = [];
  private perBucket = 1;
  private acc = 0;
  private n = 0;
  constructor(readonly capacity: number) {}

  push(v: number): void {
    if (!Number.isFinite(v)) return;
    this.acc += v;
    this.n++;
    if (this.n < this.perBucket) return;
    this.buckets.push(this.acc / this.n);
    this.acc = 0;
    this.n = 0;
    if (this.buckets.length >= this.capacity) {
      const merged: number[] = [];
      for (let i = 0; i + 1 < this.buckets.length; i += 2) merged.push((this.buckets[i]! + this.buckets[i + 1]!) / 2);
      this.buckets = merged;
      this.perBucket *= 2;
    }
  }

  values(): number[] {
    return this.n > 0 ? [...this.buckets, this.acc / this.n] : [...this.buckets];
  }

  get length(): number {
    return this.buckets.length + (this.n > 0 ? 1 : 0);
  }
}

export interface StepRow {
  info: StepInfo;
  status: RowStatus;
  planned?: 'cached' | 'run';
  reasons: string[];
  cacheHit?: boolean;
  startTime?: number;
  durationMs?: number;
  savedMs?: number;
  gpus: number[];
  logPath?: string;
  progress?: Progress;
  /** The previous progress sample, to measure the interval to the next one. */
  lastSample?: { time: number; current: number };
  /** Units per second, smoothed (EMA over RATE_TAU_MS) so one slow interval does not swing the ETA. */
  rate?: number;
  loss: DownsampledSeries;
  log: LogTail;
  metrics?: Record<string, unknown>;
  /** The table the step published (step-summary), else its metrics' figures by group: shown under the run's end. */
  summary?: SummaryTable;
  error?: string;
  exitCode?: number | null;
  /** When the step failed: the order in which failures came, the first one is put in front. */
  failedAt?: number;
  skipReason?: string;
  /** Where the step's process runs when not here: a Slurm job's id and state. */
  job?: { executor: string; jobId?: string; state: string; detail?: string };
}

export interface RunEnd {
  status: 'done' | 'failed' | 'cancelled';
  durationMs: number;
  savedMs: number;
  counts: { done: number; cached: number; failed: number; cancelled: number; skipped: number };
}

export const LOG_TAIL_LINES = 500;
/** Time constant of the rate's moving average: long enough to smooth, short enough to follow a real change. */
export const RATE_TAU_MS = 20_000;
const LOSS_BUCKETS = 64;
const WARNINGS_KEPT = 3;

export class RunState {
  runId?: string;
  name = '';
  recipe = '';
  startTime?: number;
  order: string[] = [];
  steps = new Map<string, StepRow>();
  end?: RunEnd;
  warnings: string[] = [];
  /** Time of the newest event: the clock for replays, where wall time is meaningless. */
  lastEventTime = 0;
  private failures = 0;

  get started(): boolean {
    return this.runId !== undefined;
  }

  row(id: string): StepRow | undefined {
    return this.steps.get(id);
  }

  /** The step that failed first in this run. */
  firstFailure(): string | undefined {
    let first: StepRow | undefined;
    for (const r of this.steps.values()) {
      if (r.status === 'failed' && (!first || (r.failedAt ?? 0) < (first.failedAt ?? 0))) first = r;
    }
    return first?.info.id;
  }

  /** Steps by status, as the header and the run's headline count them. */
  counts(): Record<RowStatus, number> {
    const n: Record<RowStatus, number> = { pending: 0, queued: 0, running: 0, done: 0, cached: 0, failed: 0, cancelled: 0, skipped: 0 };
    for (const r of this.steps.values()) n[r.status]++;
    return n;
  }

  /** Fraction of the run done: finished steps count whole, running ones by their progress. */
  fractionDone(): number {
    if (this.steps.size === 0) return 0;
    let done = 0;
    for (const r of this.steps.values()) {
      if (['done', 'cached', 'failed', 'cancelled', 'skipped'].includes(r.status)) done += 1;
      else if (r.status === 'running' && r.progress?.total) done += Math.min(1, r.progress.current / r.progress.total);
    }
    return done / this.steps.size;
  }

  /** One line for a finished run, kept above the next one when the TUI re-runs a step. */
  headline(): string {
    const end = this.end;
    if (!end) return `run ${this.runId ?? ''} did not end`;
    const n = end.counts;
    return `run ${this.runId ?? ''} ${end.status} in ${formatDuration(end.durationMs)}: ${n.done} ran · ${n.cached} cached · ${n.failed} failed · ${n.cancelled} cancelled · ${n.skipped} skipped`;
  }

  apply(e: EngineEvent): void {
    if (e.time > this.lastEventTime) this.lastEventTime = e.time;
    if (e.type === 'run-start') return this.reset(e);
    if (e.type === 'warning') {
      this.warnings.push(e.step ? `${e.step}: ${e.message}` : e.message);
      if (this.warnings.length > WARNINGS_KEPT) this.warnings.shift();
      return;
    }
    if (e.type === 'run-end') {
      this.end = { status: e.status, durationMs: e.durationMs, savedMs: e.savedMs, counts: e.counts };
      return;
    }
    if (e.type === 'plan') {
      for (const p of e.steps) {
        const r = this.ensure(p.id);
        r.planned = p.status;
        r.reasons = p.reasons;
      }
      return;
    }
    if (e.type === 'error') return;
    const r = this.ensure(e.step);
    switch (e.type) {
      case 'step-queued':
        r.status = 'queued';
        break;
      case 'step-cached':
        r.status = 'cached';
        r.cacheHit = true;
        r.savedMs = e.savedMs;
        if (e.metrics) r.metrics = e.metrics;
        r.summary ??= tableOfMetrics(e.metrics);
        break;
      case 'step-start':
        r.status = 'running';
        r.cacheHit = false;
        r.startTime = e.time;
        r.gpus = e.gpus;
        r.logPath = e.logPath;
        if (e.reasons.length) r.reasons = e.reasons;
        break;
      case 'step-log':
        // Raw: cleaning costs regexes, so it is done for the few lines on screen only.
        r.log.push({ stream: e.stream, text: e.line });
        break;
      case 'step-progress':
        this.progress(r, e.progress, e.time);
        break;
      case 'step-metric':
        r.metrics = { ...r.metrics, [e.name]: e.value };
        break;
      case 'step-artifact':
        break;
      case 'step-summary':
        r.summary = e.table;
        break;
      case 'step-done':
        r.status = 'done';
        r.durationMs = e.durationMs;
        if (e.metrics) r.metrics = e.metrics;
        r.summary ??= tableOfMetrics(e.metrics);
        break;
      case 'step-failed':
        r.status = 'failed';
        r.durationMs = e.durationMs;
        r.error = e.error;
        r.exitCode = e.exitCode;
        r.failedAt = ++this.failures;
        if (e.logPath) r.logPath = e.logPath;
        break;
      case 'step-cancelled':
        r.status = 'cancelled';
        if (r.startTime !== undefined) r.durationMs = e.time - r.startTime;
        break;
      case 'step-skipped':
        r.status = 'skipped';
        r.skipReason = e.reason;
        break;
      case 'step-state':
        r.job = { executor: e.executor, jobId: e.jobId, state: e.state, detail: e.detail };
        break;
    }
  }

  private reset(e: Extract<EngineEvent, { type: 'run-start' }>): void {
    this.runId = e.runId;
    this.name = e.name;
    this.recipe = e.recipe;
    this.startTime = e.time;
    this.end = undefined;
    this.warnings = [];
    this.order = [];
    this.steps = new Map();
    for (const info of e.steps) this.add(info);
  }

  private progress(r: StepRow, p: Progress, time: number): void {
    const last = r.lastSample;
    if (last && p.current < last.current) {
      // A counter that goes back means the step restarted its loop: the old rate lies.
      r.rate = undefined;
    } else if (last && time > last.time) {
      const instant = ((p.current - last.current) * 1000) / (time - last.time);
      // Time-weighted EMA: irregular sample spacing weighs each interval by its length.
      const alpha = 1 - Math.exp(-(time - last.time) / RATE_TAU_MS);
      r.rate = r.rate === undefined ? instant : r.rate + alpha * (instant - r.rate);
    }
    if (!last || time > last.time || p.current < last.current) r.lastSample = { time, current: p.current };
    r.progress = p;
    const loss = p.values?.loss;
    if (loss !== undefined) r.loss.push(loss);
  }

  /** Events about a step missing from run-start still get a row rather than vanish. */
  private ensure(id: string): StepRow {
    return this.steps.get(id) ?? this.add({ id, type: '?', needs: [], gpus: 0 });
  }

  private add(info: StepInfo): StepRow {
    const row: StepRow = {
      info,
      status: 'pending',
      reasons: [],
      gpus: [],
      loss: new DownsampledSeries(LOSS_BUCKETS),
      log: new LogTail(LOG_TAIL_LINES),
    };
    this.steps.set(info.id, row);
    this.order.push(info.id);
    return row;
  }
}

/** Units per second: the smoothed measured rate, else what the step reported. */
export function progressRate(r: StepRow): number | undefined {
  if (r.rate !== undefined) return r.rate;
  const v = r.progress?.values;
  if (!v) return undefined;
  const unit = r.progress?.unit;
  return (unit ? v[`${unit}_per_s`] : undefined) ?? v.items_per_s;
}
