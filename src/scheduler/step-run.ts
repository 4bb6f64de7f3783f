// The lifecycle of one step in one run (after lage's WrappedTarget): each
// transition writes the record, emits the event and counts the outcome
// together, so the three can never disagree.
//
//   pending -> queued -> running -> done | failed | cancelled
//   pending -> cached | skipped | cancelled
//   queued  -> cached (another process committed the key while we waited) | cancelled

import { randomUUID } from 'node:crypto';
import type { Fingerprint } from '../cache/fingerprint.js';
import type { Entry } from '../cache/store.js';
import type { EngineEvent, FailureReason, Progress, SummaryTable } from '../events.js';
import type { ExecutorState } from '../steps/process-spec.js';
import type { Records } from '../store/records.js';

export type Counts = { done: number; cached: number; failed: number; cancelled: number; skipped: number };

/** What the steps of one run share: where they record, emit and count. */
export class RunTally {
  readonly counts: Counts = { done: 0, cached: 0, failed: 0, cancelled: 0, skipped: 0 };
  savedMs = 0;

  constructor(
    readonly runId: string,
    readonly records: Records,
    readonly emit: (e: EngineEvent) => void,
  ) {}

  step(id: string, type: string, variant?: Record<string, unknown>): StepRun {
    return new StepRun(this, id, type, variant);
  }
}

type State = 'pending' | 'queued' | 'running' | 'done' | 'cached' | 'failed' | 'cancelled' | 'skipped';

/** How often at most a step's progress is written to its execution's row. */
const PROGRESS_WRITE_MS = 500;

export class StepRun {
  private state: State = 'pending';
  private execId?: string;
  private startedAt = 0;
  private readonly lastValue = new Map<string, number>();
  /** When the progress was last written to the execution's row (keepProgress). */
  private progressWritten = 0;

  constructor(
    private readonly run: RunTally,
    readonly id: string,
    private readonly type: string,
    private readonly variant?: Record<string, unknown>,
  ) {}

  get status(): State {
    return this.state;
  }

  private to(next: State, allowed: State[]): void {
    if (!allowed.includes(this.state)) throw new Error(`internal: step ${this.id} cannot go from ${this.state} to ${next}`);
    this.state = next;
  }

  private event<T extends EngineEvent['type']>(type: T, fields: Omit<Extract<EngineEvent, { type: T }>, 'type' | 'runId' | 'step' | 'time'>): void {
    this.run.emit({ type, runId: this.run.runId, step: this.id, ...fields, time: Date.now() } as unknown as EngineEvent);
  }

  queued(): void {
    this.to('queued', ['pending']);
    this.event('step-queued', {});
  }

  /** `summarize`: the step type's table from the reused execution's metrics (StepType.summarize). */
  cached(entry: Entry, fingerprint: Fingerprint, outputs: Record<string, string>, summarize?: (metrics: Record<string, unknown>) => SummaryTable | undefined): void {
    this.to('cached', ['pending', 'queued']);
    const orig = this.run.records.recordCached({
      id: randomUUID(),
      runId: this.run.runId,
      stepId: this.id,
      stepType: this.type,
      variant: this.variant,
      key: entry.key,
      fingerprint,
      outputs,
      originalExecId: entry.execId,
    });
    this.run.counts.cached++;
    this.run.savedMs += entry.durationMs;
    const metrics = orig.metrics as Record<string, unknown> | undefined;
    // Before step-cached, which ends the step's events like step-done does.
    const table = metrics && summarize?.(metrics);
    if (table) this.summary(table);
    this.event('step-cached', { key: entry.key, savedMs: entry.durationMs, outputs, metrics });
  }

  start(a: { execId: string; key: string; fingerprint: Fingerprint; reasons: string[]; gpus: number[]; logPath: string }): void {
    this.to('running', ['queued']);
    this.execId = a.execId;
    this.startedAt = Date.now();
    this.run.records.startExecution({
      id: a.execId,
      runId: this.run.runId,
      stepId: this.id,
      stepType: this.type,
      variant: this.variant,
      key: a.key,
      logPath: a.logPath,
      fingerprint: a.fingerprint,
      gpus: a.gpus,
      reasons: a.reasons,
    });
    this.event('step-start', { key: a.key, execId: a.execId, reasons: a.reasons, gpus: a.gpus, logPath: a.logPath });
  }

  /** Milliseconds since start(). */
  elapsed(): number {
    return Date.now() - this.startedAt;
  }

  log(line: string, stream: 'stdout' | 'stderr', detail = false): void {
    this.event('step-log', { stream, line, ...(detail ? { detail } : {}) });
  }

  progress(progress: Extract<EngineEvent, { type: 'step-progress' }>['progress']): void {
    // A series point is kept when its value moves: trainers repeat the last logged loss on every step.
    for (const [name, value] of Object.entries(progress.values ?? {})) {
      if (!Number.isFinite(value) || this.lastValue.get(name) === value) continue;
      this.lastValue.set(name, value);
      this.run.records.addMetric(this.execId!, name, value, progress.current);
    }
    this.keepProgress(progress);
    this.event('step-progress', { progress });
  }

  /**
   * The latest progress, kept in the execution's row for a follower (`flow attach`), which has
   * no other way to learn the total and the unit. At most one write per PROGRESS_WRITE_MS, and
   * always the first and the last (current reaches total): a loop reporting every item costs
   * a few writes a second, not one per item.
   */
  private keepProgress(progress: Progress): void {
    const now = Date.now();
    const last = progress.total !== undefined && progress.current >= progress.total;
    if (!last && now - this.progressWritten < PROGRESS_WRITE_MS) return;
    this.progressWritten = now;
    this.run.records.setProgress(this.execId!, JSON.stringify({ ...progress, time: now }));
  }

  metric(name: string, value: number): void {
    this.run.records.addMetric(this.execId!, name, value, null);
    this.event('step-metric', { name, value });
  }

  artifact(name: string, path: string): void {
    this.event('step-artifact', { name, path });
  }

  summary(table: SummaryTable): void {
    this.event('step-summary', { table });
  }

  executorState(s: ExecutorState): void {
    this.event('step-state', { executor: s.executor, jobId: s.jobId, state: s.state, detail: s.detail });
  }

  done(a: { key: string; outputs: Record<string, string>; metrics?: unknown }): void {
    const durationMs = this.elapsed();
    this.to('done', ['running']);
    this.run.records.finishExecution(this.execId!, { status: 'done', durationMs, outputs: a.outputs, metrics: a.metrics });
    this.run.counts.done++;
    this.event('step-done', { key: a.key, durationMs, outputs: a.outputs, metrics: a.metrics as Record<string, unknown> | undefined });
  }

  failed(a: { reason: FailureReason; message: string; exitCode: number | null; logPath?: string }): void {
    const durationMs = this.elapsed();
    this.to('failed', ['running']);
    this.run.records.finishExecution(this.execId!, { status: 'failed', durationMs, exitCode: a.exitCode, error: a.message });
    this.run.counts.failed++;
    this.event('step-failed', { durationMs, exitCode: a.exitCode, reason: a.reason, error: a.message.split('\n')[0]!, logPath: a.logPath });
  }

  cancelled(): void {
    const wasRunning = this.state === 'running';
    this.to('cancelled', ['pending', 'queued', 'running']);
    if (wasRunning) this.run.records.finishExecution(this.execId!, { status: 'cancelled', durationMs: this.elapsed(), error: 'cancelled' });
    this.run.counts.cancelled++;
    this.event('step-cancelled', {});
  }

  skipped(reason: string): void {
    this.to('skipped', ['pending']);
    this.run.counts.skipped++;
    this.event('step-skipped', { reason });
  }
}
