// A step type is a plugin: a JSON Schema for its `with:`, the outputs it
// declares, which `with:` fields name input files, the source files whose
// content is its implementation version, and a run function.
//
// Built-in TypeScript steps live in steps/<name>/index.ts and default-export a
// StepType. Python steps (python-steps/<name>.py + <name>.json manifest) are
// adapted to the same interface by src/python/.

import type { Progress } from '../events.js';

export type JsonSchema = Record<string, unknown>;

export interface StepRunContext {
  stepId: string;
  /** Fresh per-execution directory; the step's cwd and where outputs are written. */
  workDir: string;
  /** Resolved `with:` (interpolated, validated, defaults applied). Paths are absolute. */
  with: Record<string, unknown>;
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
   */
  log(line: string, stream?: 'stdout' | 'stderr', partial?: boolean): void;
  progress(p: Progress): void;
  metric(name: string, value: number): void;
  artifact(name: string, path: string): void;
  /** Absolute path of the repository root (where steps/, python-steps/ live). */
  root: string;
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
   * Dotted paths of `with:` fields that name input files or folders (e.g. ['spider', 'model']).
   * Their content digests enter the step key; a `${steps...}` reference is tracked anyway.
   */
  inputs: string[];
  /** Files or folders, relative to the repository root, whose content is the implementation version. */
  sources: string[];
  /**
   * Checks that need the machine, not only the schema (e.g. qlora without CUDA).
   * Runs at plan time; returns error messages naming the option.
   */
  preflight?(w: Record<string, unknown>): string[] | Promise<string[]>;
  run(ctx: StepRunContext): Promise<void>;
}

/** Thrown by a step for a user-facing failure (bad input): printed without a stack trace. */
export class StepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StepError';
  }
}
