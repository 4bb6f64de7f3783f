// The executor contract: how a step that runs an external process (a shell
// command, a Python script, torchrun) asks for it to be run, and how it hears
// back. The step builds a ProcessSpec and calls ctx.exec(spec); the scheduler
// decides where it runs (local process group, a Slurm job, ...). Shared with
// the executors in src/scheduler/executors/.

export interface ProcessResources {
  gpus: number;
  cpus?: number;
  memory?: string;
  time?: string;
  nodes?: number;
}

export interface ProcessSpec {
  /** e.g. 'bash', a python interpreter, 'torchrun' */
  file: string;
  args: string[];
  /** The step's work dir (under the cache: on the shared filesystem). */
  cwd: string;
  /** Complete environment (no implicit inheritance). */
  env: Record<string, string>;
  /**
   * JSON-lines events file the process appends to (Python runtime: FLOW_EVENTS_FILE). The executor tails it
   * and hands each complete line to onEvent. Always a file (never fd 3) when the executor is not local.
   * The step puts FLOW_EVENTS_FILE in env; a local executor that uses fd 3 instead (eventsFd) replaces it
   * by FLOW_EVENTS_FD=3.
   */
  eventsFile?: string;
  /** Local only: extra pipe fd 3 for events; non-local executors must use eventsFile instead. */
  eventsFd?: boolean;
  /**
   * A launcher (torchrun) to start once on each of resources.nodes nodes instead of once per job. The
   * executor gives every copy NNODES, NODE_RANK (0-based) and MASTER_ADDR (the allocation's first
   * node), under torchrun's own names as well (PET_NNODES, PET_NODE_RANK, PET_MASTER_ADDR: what it
   * reads for the options its command line leaves out). Only an executor that spans nodes can.
   */
  perNode?: boolean;
  /** Resources for schedulers (sbatch): from the step's `resources:`. */
  resources?: ProcessResources;
  /** Human-readable job name parts: run id and step id. */
  name: { runId: string; stepId: string };
  /** One line of output; `partial` when an over-long line was cut here and goes on in the next call. */
  onLine(line: string, stream: 'stdout' | 'stderr', partial?: boolean): void;
  onEvent?(line: string): void;
  /** Executor-specific state changes for the reporter (e.g. slurm job id, PENDING (Resources), RUNNING on node1). */
  onState?(state: ExecutorState): void;
  signal: AbortSignal;
  /** Seconds between SIGTERM and SIGKILL on cancel. */
  graceS?: number;
}

export interface ExecutorState {
  executor: string;
  jobId?: string;
  state: string;
  detail?: string;
}

export interface ProcessOutcome {
  exitCode: number | null;
  signal: string | null;
  cancelled: boolean;
  /** Why it ended when not a plain exit: 'time-limit' | 'out-of-memory' | 'node-fail' | 'preempted' | 'cancelled' | 'submit-failed' | ... */
  reason?: string;
  /** One line for humans, e.g. Slurm's sbatch error or "TIMEOUT (job 123)". */
  detail?: string;
}

export interface Executor {
  /** 'local' | 'slurm' */
  readonly name: string;
  exec(spec: ProcessSpec): Promise<ProcessOutcome>;
  /** Preflight at plan time (e.g. sbatch on PATH): returns error lines; empty = ok. */
  check?(): Promise<string[]>;
  /** On cancel of the whole run: stop everything this executor started (scancel by job name). */
  cancelAll?(): Promise<void>;
}
