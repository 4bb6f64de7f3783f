// A step type is a plugin: a JSON Schema for its `with:`, the outputs it
// declares, which `with:` fields name input files, the source files whose
// content is its implementation version, and a run function.
//
// Built-in TypeScript steps live in steps/<name>/index.ts and default-export a
// StepType. Python steps (python-steps/<name>.py + <name>.json manifest) are
// adapted to the same interface by src/python/.

import type { FailureReason, Progress, SummaryTable } from '../events.js';
import type { ReportTo, Resources } from '../recipe/types.js';
import type { ProcessOutcome, ProcessSpec } from './process-spec.js';

/** The value at a dotted path of a step's `with:` ('lora.rank'), for plugins (one copy: recipe/fields.ts). */
export { getPath } from '../recipe/fields.js';

export type { ProcessOutcome, ProcessSpec } from './process-spec.js';

export type JsonSchema = Record<string, unknown>;

/** Recipe-wide settings a step may need, typed (not smuggled through environment variables). */
export interface StepSettings {
  /** The recipe's `python:` block; interpreter resolved against the recipe's folder (or FLOW_PYTHON). */
  python: { extras: string[]; interpreter?: string };
  /** Where managed environments live (the cache store's envs/ folder). */
  envsDir: string;
  /** The recipe's `report_to:` (TensorBoard's folder defaulted), for steps that log to trackers; never in a key. */
  reportTo?: ReportTo;
  /** The recipe's name: trackers file a run under it. */
  recipeName?: string;
}

export interface StepRunContext {
  stepId: string;
  /** Fresh per-execution directory; the step's cwd and where outputs are written. */
  workDir: string;
  /** Resolved `with:` (interpolated, validated, defaults applied). Paths are absolute. */
  with: Record<string, unknown>;
  /**
   * Content digests the step's key already holds of its input fields (`with:` fields the type
   * declares in `inputs`, by dotted name), where a field is one path or one upstream output:
   * a step that records where its numbers come from (sql-eval's database folder) gets them
   * without reading the files again. A field built from a reference and more text has none.
   */
  inputDigests?: Record<string, string>;
  /** Declared output name -> absolute path inside workDir that the step must create. */
  outputs: Record<string, string>;
  /** Aborted on Ctrl-C / SIGTERM / --fail-fast; a step must stop promptly and kill its children. */
  signal: AbortSignal;
  /** GPU ids handed to this execution (also in env.CUDA_VISIBLE_DEVICES). */
  gpus: number[];
  /** Environment for child processes (process.env plus what the engine adds). */
  env: Record<string, string>;
  /**
   * Writes a line to the execution's log file and to the reporter. `partial`: the line goes on
   * in the next call (a cut over-long line): the log gets every byte, the reporter only the start.
   * `detail`: a line for the log and its views, left out of line-by-line output (see step-log).
   */
  log(line: string, stream?: 'stdout' | 'stderr', partial?: boolean, detail?: boolean): void;
  progress(p: Progress): void;
  metric(name: string, value: number): void;
  artifact(name: string, path: string): void;
  /** Absolute path of the repository root (where steps/, python-steps/ live). */
  root: string;
  /**
   * A folder that outlives this execution and belongs to the step's cache key, for training
   * checkpoints: a re-run of the same key after a crash finds what the crashed run saved there.
   */
  checkpointDir: string;
  settings: StepSettings;
  /** Runs an external process where the scheduler placed this step (local process group, Slurm job). */
  exec(spec: ProcessSpec): Promise<ProcessOutcome>;
  /** The step's `resources:` (gpus, and cpus/memory/time/nodes for batch schedulers), for ProcessSpec.resources. */
  resources?: Resources;
  /** Where the executor runs the step's processes (the same answer the plan's preflight got). */
  machine: StepMachine;
  /**
   * The CPU cores this execution is given: its `resources.cpus`, else on this machine its share of
   * the cores over --jobs; absent where a batch scheduler's allocation decides.
   */
  cpus?: number;
  /** Run id, for process names (ProcessSpec.name). */
  runId: string;
  /** A table the step publishes for reporters (e.g. sql-eval's accuracy by hardness). */
  summary?(table: SummaryTable): void;
}

export interface StepType {
  /** The name used in `uses:`, e.g. 'spider-sft' or 'python:sft'. */
  name: string;
  description: string;
  /** JSON Schema of `with:`. Must set additionalProperties: false so typos are caught. */
  schema: JsonSchema;
  /**
   * Output name -> path relative to workDir. A function when outputs depend on `with:`.
   * An output named `metrics` (a JSON file) is recorded as the execution's metrics.
   */
  outputs: Record<string, string> | ((w: Record<string, unknown>) => Record<string, string>);
  /**
   * The table a reused (cached) execution publishes from its recorded metrics, as its run did
   * with `ctx.summary`: reporters show a cached evaluation's breakdown without knowing its shape.
   */
  summarize?(metrics: Record<string, unknown>): SummaryTable | undefined;
  /**
   * The checkpoints the step commits as outputs, known from `with:` before it runs: training step
   * number -> output name (the last one is the final model). Absent, or undefined for a `with:`,
   * when it commits none. Steps downstream of `${steps.X.outputs.checkpoint}` fan out over them
   * (src/steps/checkpoints.ts).
   */
  checkpoints?(w: Record<string, unknown>): Map<number, string> | undefined;
  /** Names of the figures its `metrics` output records (e.g. ['ex', 'em']), for plan-time checks of `select:`. */
  metrics?: string[];
  /**
   * Dotted paths of `with:` fields that name input files or folders (e.g. ['spider', 'model']; a `*`
   * segment stands for every index of a list: 'datasets.*.file'). Their content digests enter the step
   * key; a `${steps...}` reference is tracked anyway.
   */
  inputs: string[];
  /** Files or folders, relative to the repository root, whose content is the implementation version. */
  sources: string[];
  /**
   * Checks that need the machine, not only the schema (e.g. fp16 without CUDA): `machine` is
   * where the step's executor will run it, which need not be the one flow runs on (a Slurm job
   * from a login node). Runs at plan time; returns every problem, each naming the `with:` option
   * it is about.
   */
  preflight?(w: Record<string, unknown>, machine: StepMachine): PreflightProblem[] | Promise<PreflightProblem[]>;
  /**
   * What runs the step's code beyond its sources (the Python interpreter and its installed
   * packages, the SQLite library): name -> identity. It enters the implementation digest, so a
   * different environment never reuses a result made in another one.
   */
  runtime?(settings: StepSettings): Promise<Record<string, string>>;
  run(ctx: StepRunContext): Promise<void>;
}


/**
 * The machine a step's process will run on, as its executor knows it at plan time: this one for
 * the local executor; for Slurm, a node of the job it asks for, whose GPUs it trusts (a request
 * Slurm cannot meet is refused by sbatch when submitted).
 */
export interface StepMachine {
  /** The executor type: 'local', 'slurm'. */
  executor: string;
  /** Whether the step's process will see a CUDA GPU. */
  cuda: boolean;
  /** The compute capabilities of its GPUs; [] where not known before it runs (the step checks again then). */
  capabilities(): number[];
  /** Why it has no GPU, ending a message: `… needs a CUDA GPU, and ${noGpu}`. */
  noGpu: string;
  /** `--allow-cpu`: the user accepts GPU-sized work (a large model's training) on it without CUDA. */
  allowCpu: boolean;
}

/** A plan-time problem of a step on this machine: `field` (dotted, in `with:`) names the option to change. */
export interface PreflightProblem {
  field: string;
  message: string;
}

/** Thrown by a step for a user-facing failure (bad input): printed without a stack trace. */
export class StepError extends Error {
  constructor(
    message: string,
    /** 'user-error' for bad input; 'exit-code'/'signal' when a process it ran ended badly. */
    readonly reason: FailureReason = 'user-error',
    readonly exitCode: number | null = null,
  ) {
    super(message);
    this.name = 'StepError';
  }
}

/** Turns a process outcome into the error a step throws (or nothing, for exit 0). */
export function failOnOutcome(what: string, o: ProcessOutcome, why = ''): void {
  if (o.cancelled) throw new StepError('cancelled', 'internal');
  if (o.exitCode === 0) return;
  const how = o.detail ?? (o.signal ? `killed by ${o.signal}` : `exited with code ${o.exitCode}`);
  throw new StepError(`${what} ${how}${why ? `: ${why}` : ''}`, o.signal || o.reason ? 'signal' : 'exit-code', o.exitCode);
}
