// The one contract between the engine and every reporter (plain, json, tui).
// The engine emits these and never imports a reporter; a reporter reads these
// and never reaches into the engine. Every event is plain JSON so the NDJSON
// reporter can print it as is and tests can replay recorded streams.

export type StepStatus = 'cached' | 'queued' | 'running' | 'done' | 'failed' | 'cancelled' | 'skipped';

export interface StepInfo {
  id: string;
  /** `uses:` type, or 'run' for shell steps. */
  type: string;
  needs: string[];
  gpus: number;
  /** Matrix variant of this step, e.g. { lora_rank: 32 }; absent for shared steps. */
  variant?: Record<string, unknown>;
  /**
   * A per-checkpoint instance (`eval_val[ckpt=200]`): the training step of the checkpoint it
   * scores, and the id its instances share (`eval_val`), so reporters can draw its figures
   * against training steps without knowing how instances are named.
   */
  checkpoint?: { step: number; series: string };
}

export interface StepPlan {
  id: string;
  status: 'cached' | 'run';
  reasons: string[];
  key?: string;
}

/** Progress reported by a running step (training, prediction, evaluation). */
export interface Progress {
  current: number;
  total?: number;
  unit?: string;
  /** Free-form numbers shown beside the bar: loss, lr, tokens_per_s, items_per_s, ... */
  values?: Record<string, number>;
}

/**
 * A table a step type publishes for reporters, so they need not know its metrics' shape
 * (sql-eval publishes accuracy by Spider hardness level).
 */
export interface SummaryTable {
  title: string;
  /** Column keys in display order, e.g. ['easy', 'medium', 'hard', 'extra', 'all']. */
  columns: string[];
  /** Row label ('count', 'ex', 'em') -> column -> value. */
  rows: Record<string, Record<string, number | null>>;
}

/** Why a step failed: its process exited non-zero, was killed, left a declared output missing, rejected its input, or flow broke. */
export type FailureReason = 'exit-code' | 'signal' | 'missing-output' | 'user-error' | 'internal';

export type EngineEvent =
  | { type: 'run-start'; runId: string; recipe: string; name: string; steps: StepInfo[]; time: number }
  | { type: 'plan'; runId: string; steps: StepPlan[]; time: number }
  | { type: 'step-queued'; runId: string; step: string; time: number }
  | {
      type: 'step-cached';
      runId: string;
      step: string;
      key: string;
      /** Wall time the original execution took: what the cache saved. */
      savedMs: number;
      outputs: Record<string, string>;
      metrics?: Record<string, unknown>;
      time: number;
    }
  | {
      type: 'step-start';
      runId: string;
      step: string;
      key: string;
      execId: string;
      reasons: string[];
      gpus: number[];
      logPath: string;
      time: number;
    }
  | {
      type: 'step-log';
      runId: string;
      step: string;
      stream: 'stdout' | 'stderr';
      line: string;
      time: number;
      /** A line for the log file and the log views, not for line-by-line output (the plain reporter):
       * a trainer's numbers at each logging step, which progress events already carry. */
      detail?: boolean;
    }
  | { type: 'step-progress'; runId: string; step: string; progress: Progress; time: number }
  | { type: 'step-metric'; runId: string; step: string; name: string; value: number; time: number }
  | { type: 'step-artifact'; runId: string; step: string; name: string; path: string; time: number }
  | {
      type: 'step-done';
      runId: string;
      step: string;
      key: string;
      durationMs: number;
      outputs: Record<string, string>;
      metrics?: Record<string, unknown>;
      time: number;
    }
  | {
      type: 'step-failed';
      runId: string;
      step: string;
      durationMs: number;
      exitCode?: number | null;
      reason: FailureReason;
      error: string;
      logPath?: string;
      time: number;
    }
  | { type: 'step-cancelled'; runId: string; step: string; time: number }
  | { type: 'step-skipped'; runId: string; step: string; reason: string; time: number }
  | { type: 'warning'; runId?: string; step?: string; message: string; time: number }
  /** Where a step's process is, as its executor tells it (e.g. a Slurm job: PENDING (Resources), RUNNING on node1). */
  | { type: 'step-state'; runId: string; step: string; executor: string; jobId?: string; state: string; detail?: string; time: number }
  | { type: 'step-summary'; runId: string; step: string; table: SummaryTable; time: number }
  /**
   * A run that could not start: a bad recipe (validation, with its place in the file) or bad
   * arguments (usage). Printed by every reporter; `--ui json` prints it as a JSON line.
   */
  | {
      type: 'error';
      kind: 'validation' | 'usage';
      message: string;
      file?: string;
      line?: number;
      col?: number;
      field?: string;
      time: number;
    }
  | {
      type: 'run-end';
      runId: string;
      status: 'done' | 'failed' | 'cancelled';
      durationMs: number;
      /** Sum of savedMs over cached steps. */
      savedMs: number;
      counts: { done: number; cached: number; failed: number; cancelled: number; skipped: number };
      time: number;
    };


/** What an interactive reporter asks for once a run has ended. */
export type NextAction = { type: 'quit' } | { type: 'rerun'; step: string };

/** A reporter consumes engine events. `close` resolves once it has flushed its output. */
export interface Reporter {
  onEvent(event: EngineEvent): void;
  /**
   * Interactive reporters only (the TUI): called by the CLI after each run-end.
   * Resolves with a re-run the user asked for (during or after the run), or quit.
   * Non-interactive reporters leave it undefined and the CLI exits after one run.
   */
  nextAction?(): Promise<NextAction>;
  close(): Promise<void>;
}

/** What a reporter may ask of the engine while a run is active (the TUI's `c` key). */
export interface RunControl {
  cancel(): void;
}
