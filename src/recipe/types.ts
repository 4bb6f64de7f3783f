// The recipe as the engine sees it after loading and validation.
// Source positions are kept so later checks (references, cycles) can still
// name file:line:column.

/** The store's own record in every committed result (cache/store.ts): no output may take its name. */
export const ENTRY_MANIFEST = '.flow-entry.json';

export interface SourcePos {
  file: string;
  line: number;
  col: number;
}

export interface StepDef {
  id: string;
  /** Built-in type ('spider-sft'), Python type ('python:sft'); absent for shell steps. */
  uses?: string;
  /** Shell command for `run:` steps. */
  run?: string;
  with: Record<string, unknown>;
  /** Extra files/globs a shell step reads (relative to the recipe's folder). */
  inputs: string[];
  /** Output name -> path relative to the step's work dir (shell steps). */
  outputs: Record<string, string>;
  /** Explicit dependencies beyond `${steps.X...}` references. */
  needs: string[];
  resources: Resources;
  /** `steps.<id>.executor`, normalised; absent when the step does not name one. */
  executor?: ExecutorConfig;
  env: Record<string, string>;
  /** Matrix values this step instance was expanded with; absent for shared steps. */
  variant?: Record<string, unknown>;
  /** `select: { best: ... }`: ${steps.T.outputs.checkpoint} here is the best checkpoint, not one instance each. */
  select?: { best: { step: string; metric: string; goal?: 'max' | 'min' } };
  /** The step id before matrix expansion ('train' for 'train[lora_rank=32]'). */
  baseId: string;
  pos: SourcePos;
}

/** What a step asks of the machine; gpus is always known, the rest only matters to batch schedulers. */
export interface Resources {
  gpus: number;
  cpus?: number;
  /** e.g. '16G' */
  memory?: string;
  /** 'HH:MM:SS' or 'D-HH:MM:SS' */
  time?: string;
  nodes?: number;
}

/** `executor: local` or `executor: { type: slurm, partition: gpu, ... }`, normalised to an object. */
export interface ExecutorConfig {
  type: string;
  [option: string]: unknown;
}

export interface MatrixDef {
  axes: Record<string, unknown[]>;
  include: Array<Record<string, unknown>>;
  exclude: Array<Record<string, unknown>>;
}

export interface ReportTo {
  tensorboard?: { dir?: string };
  mlflow?: { tracking_uri: string; experiment?: string };
  wandb?: { project: string; entity?: string; mode?: 'online' | 'offline'; dir?: string };
}

export interface Recipe {
  /** Absolute path of the recipe file. */
  file: string;
  /** Folder relative paths in the recipe resolve against. */
  dir: string;
  name: string;
  description?: string;
  params: Record<string, unknown>;
  matrix?: MatrixDef;
  /** Python environment settings: extra requirement sets, or an existing interpreter. */
  python?: { extras?: string[]; interpreter?: string };
  /** `report_to:`: the trackers named by the recipe, and nothing else (paths resolved against its folder). */
  reportTo?: ReportTo;
  /** The recipe's default executor for its steps. */
  executor?: ExecutorConfig;
  steps: Record<string, StepDef>;
  /** Maps a dotted field path ('steps.train.with.lora.rank') to its place in the file. */
  positions: Map<string, SourcePos>;
}
