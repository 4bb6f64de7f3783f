// Adapts python-steps/<name>.json + its script to the engine's StepType.
//
// run() writes the resolved `with:` and output paths to a params file, starts
// the script with the managed interpreter (directly, or under torchrun /
// deepspeed / accelerate), streams its stdout/stderr to the log, and turns the
// JSON-lines events of its own channel into progress / metric / artifact
// calls. The process runs through ctx.exec, on whatever executor the
// scheduler chose. The channel is fd 3 for a direct local launch; a
// launcher's ranks are spawned without inherited fds (and a remote executor
// has no pipe), so those write a file that the executor tails.

import { pythonRuntime } from './runtime-identity.js';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { StepError, getPath, type JsonSchema, type PreflightProblem, type StepMachine, type StepRunContext, type StepType } from '../steps/types.js';
import { ensurePythonEnv, stepRequirementFiles } from './env.js';
import { folderParams, modelFolderProblem, paramText, type ModelField } from './model-folder.js';

/** A rule naming a `with:` option that needs CUDA. */
export interface GpuRule {
  /** Dotted path in `with:`. */
  field: string;
  in?: unknown[];
  present?: boolean;
  gt?: number;
  /** Minimum compute capability (bf16 needs 8.0). */
  capability?: number;
  /** Runs on CPU too; only a GPU's capability can refuse it. */
  cpu_ok?: boolean;
  why: string;
}

export interface PythonStepManifest {
  description: string;
  /** Script file in python-steps/; default <name>.py with '-' as '_'. */
  script?: string;
  /** Other python-steps/ files it imports or reads: part of its implementation version. */
  modules?: string[];
  schema: JsonSchema;
  outputs: Record<string, string>;
  /** Outputs that exist only for some values of a field (sft: adapter for lora, model for full). */
  outputs_when?: Array<{ field: string; in: unknown[]; outputs: Record<string, string> }>;
  inputs: string[];
  gpu_options?: GpuRule[];
  /** `with:` fields naming model or adapter folders, checked at plan time (model-folder.ts). */
  models?: ModelField[];
  /** The largest model (`field`'s folder, counted from its config.json) the step runs where there is
   * no CUDA without --allow-cpu. */
  cpu_limit?: { field: string; params: number; why: string };
  /**
   * Checkpoints committed as outputs `checkpoint_<step>` when the boolean field `when` is true:
   * every `every` steps, and at `until` (fields naming step counts: save_steps, max_steps).
   */
  checkpoints?: { when: string; every: string; until: string };
  /** Names of the figures its metrics output records. */
  metrics?: string[];
}

interface Launcher {
  type: 'none' | 'torchrun' | 'deepspeed' | 'accelerate';
  nproc_per_node?: number;
  nnodes?: number;
  node_rank?: number;
  master_addr?: string;
  master_port?: number;
  extra_args?: string[];
}

const PY_DIR = 'python-steps';
const RUNTIME_PKG = 'flow_runtime';

function ruleMatches(rule: GpuRule, w: Record<string, unknown>): unknown {
  const v = getPath(w, rule.field);
  if (v === undefined || v === null) return undefined;
  if (rule.in && rule.in.includes(v)) return v;
  if (rule.present) return v;
  if (rule.gt !== undefined && typeof v === 'number' && v > rule.gt) return v;
  return undefined;
}

/** Plan-time problems of GPU-only options where the step's executor will run it (`machine`): no CUDA
 * there, or a GPU too old for them. The step's runtime applies the same manifest rules again with
 * torch (flow_runtime/runtime.py). */
export function gpuPreflight(name: string, rules: GpuRule[], w: Record<string, unknown>, machine: StepMachine): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  for (const rule of rules) {
    const v = ruleMatches(rule, w);
    if (v === undefined) continue;
    const option = `${rule.field}: ${typeof v === 'string' ? v : JSON.stringify(v)}`;
    if (!machine.cuda && rule.cpu_ok) continue;
    if (!machine.cuda) {
      problems.push({ field: rule.field, message: `${name}: ${option} needs a CUDA GPU (${rule.why}), and ${machine.noGpu}` });
    } else if (rule.capability !== undefined) {
      const low = machine.capabilities().filter((c) => c < rule.capability!);
      if (low.length) problems.push({ field: rule.field, message: `${name}: ${option}: ${rule.why}; this machine has compute capability ${low.join(', ')}` });
    }
  }
  return problems;
}

/** Plan-time problems of the model folders a step is given: not a model (or adapter) folder, or a
 * model too large to train where the step's machine has no CUDA (unless --allow-cpu). */
export function modelPreflight(name: string, m: Pick<PythonStepManifest, 'models' | 'cpu_limit'>, w: Record<string, unknown>, machine: StepMachine): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  for (const { field, kind } of m.models ?? []) {
    const dir = getPath(w, field);
    if (typeof dir !== 'string' || dir === '') continue;
    const why = modelFolderProblem(dir, kind);
    if (why) problems.push({ field, message: `${name}: ${why}` });
  }
  const limit = m.cpu_limit;
  const dir = limit && getPath(w, limit.field);
  if (limit && typeof dir === 'string' && !machine.cuda && !machine.allowCpu) {
    const n = folderParams(dir);
    if (n !== undefined && n > limit.params) {
      problems.push({
        field: limit.field,
        message: `${name}: ${limit.field}: a ${paramText(n)}-parameter model (config.json), above the ${paramText(limit.params)} flow runs without a GPU: ` +
          `${limit.why}, and ${machine.noGpu}; pass --allow-cpu to run it anyway`,
      });
    }
  }
  return problems;
}

export function readManifest(file: string): PythonStepManifest {
  let m: PythonStepManifest;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as PythonStepManifest;
  } catch (e) {
    throw new Error(`${file}: not a valid step manifest: ${(e as Error).message}`);
  }
  for (const field of ['description', 'schema', 'outputs', 'inputs'] as const) {
    if (m[field] === undefined) throw new Error(`${file}: step manifest lacks '${field}'`);
  }
  if ((m.schema as { additionalProperties?: unknown }).additionalProperties !== false) {
    throw new Error(`${file}: schema must set additionalProperties: false`);
  }
  return m;
}

/**
 * The command line for a step: the script alone, or under its launcher (always `python -m`, see env.ts).
 * `nodes` > 1 (resources.nodes) under torchrun: the executor starts one torchrun per node and tells each
 * its node count, rank and the first node's address (ProcessSpec.perNode), so those options stay off
 * the command line, where torchrun would let them override what the executor says.
 */
export function launchArgs(script: string, paramsFile: string, launcher: Launcher | undefined, gpus: number[], nodes = 1): string[] {
  const tail = [script, '--params', paramsFile];
  const l = launcher ?? { type: 'none' };
  const n = l.nproc_per_node ?? 1;
  const nn = l.nnodes ?? 1;
  const rank = l.node_rank ?? 0;
  const addr = l.master_addr ?? '127.0.0.1';
  const port = l.master_port ?? 29500;
  const extra = l.extra_args ?? [];
  switch (l.type) {
    case 'none':
      return tail;
    case 'torchrun':
      if (nodes > 1) return ['-m', 'torch.distributed.run', `--nproc_per_node=${n}`, `--master_port=${port}`, ...extra, ...tail];
      return ['-m', 'torch.distributed.run', `--nproc_per_node=${n}`, `--nnodes=${nn}`, `--node_rank=${rank}`,
        `--master_addr=${addr}`, `--master_port=${port}`, ...extra, ...tail];
    case 'deepspeed':
      // The deepspeed launcher ignores CUDA_VISIBLE_DEVICES; --include names the GPUs flow handed out.
      return ['-m', 'deepspeed.launcher.runner',
        ...(nn === 1 && gpus.length ? [`--include=localhost:${gpus.join(',')}`] : [`--num_gpus=${n}`, `--num_nodes=${nn}`]),
        `--master_addr=${addr}`, `--master_port=${port}`, ...extra, ...tail];
    case 'accelerate':
      return ['-m', 'accelerate.commands.launch', `--num_processes=${n * nn}`, `--num_machines=${nn}`,
        `--machine_rank=${rank}`, `--main_process_ip=${addr}`, `--main_process_port=${port}`,
        ...(n * nn > 1 ? ['--multi_gpu'] : []), ...extra, ...tail];
  }
}

interface StepEvent {
  type: string;
  current?: number;
  total?: number | null;
  unit?: string;
  values?: Record<string, number>;
  name?: string;
  value?: number;
  path?: string;
  message?: string;
  /** For 'error': 'user' (bad input), 'check' (a result failed its check) or 'crash' (an exception). */
  kind?: string;
  step?: number;
  /** For 'log': a line for the step's log. */
  line?: string;
}

/** An error the step reported: 'user' (bad input), 'check' (a result failed its check), 'crash' (an exception). */
interface ReportedError {
  message: string;
  kind: string;
}

function handleEvent(ctx: StepRunContext, line: string, errors: ReportedError[]): void {
  let e: StepEvent;
  try {
    e = JSON.parse(line) as StepEvent;
  } catch {
    ctx.log(`(unreadable event) ${line}`, 'stderr');
    return;
  }
  switch (e.type) {
    case 'progress':
      ctx.progress({ current: e.current ?? 0, total: e.total ?? undefined, unit: e.unit, values: e.values });
      break;
    case 'metric':
      if (e.name && typeof e.value === 'number') ctx.metric(e.name, e.value);
      break;
    case 'artifact':
      if (e.name && e.path) ctx.artifact(e.name, e.path);
      break;
    case 'log':
      // The Trainer's line at each logging step: for the log, not for the plain output.
      if (e.line) ctx.log(e.line, 'stdout', false, true);
      break;
    case 'error':
      if (e.message) errors.push({ message: e.message, kind: e.kind ?? 'user' });
      break;
    default:
      // 'loss' (kept in the loss_history output), 'resumed' (logged by the step): nothing more to do.
      break;
  }
}

/** The line of a Python traceback that names the exception (`Type: message`), or the last line the
 * process wrote on stderr where none does (killed, or a crash outside flow_runtime's main). */
function exceptionLine(stderr: string[]): string {
  const lines = stderr.map((l) => l.trim()).filter(Boolean);
  const exc = lines.filter((l) => /^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)(:|$)/.test(l)).at(-1);
  return exc ?? lines.at(-1) ?? '';
}

/**
 * torch's CPU threads (OpenMP's, which torch reads at start): the step's cores shared by the ranks
 * it starts on a node. Without it each rank starts one thread per core of the machine. torchrun
 * would set 1 per rank where this is unset.
 */
export function threadEnv(cpus: number | undefined, ranksPerNode: number): Record<string, string> {
  if (!cpus) return {};
  return { OMP_NUM_THREADS: String(Math.max(1, Math.floor(cpus / Math.max(1, ranksPerNode)))) };
}

/** The interpreter: the recipe's `python.interpreter` (or FLOW_PYTHON), else the managed env. */
async function interpreter(ctx: StepRunContext): Promise<string> {
  const env = await ensurePythonEnv({
    root: ctx.root,
    cacheDir: dirname(ctx.settings.envsDir),
    envsDir: ctx.settings.envsDir,
    requirementFiles: stepRequirementFiles(ctx.root, ctx.settings.python.extras, ctx.with),
    interpreter: ctx.settings.python.interpreter,
    log: ctx.log,
    signal: ctx.signal,
  });
  return env.python;
}

/** The files of the shared runtime package, python-steps/flow_runtime/ (named one by one: a folder
 * digest would also take in the __pycache__ that Python writes there). */
function runtimeModules(root: string): string[] {
  return readdirSync(join(root, PY_DIR, RUNTIME_PKG)).filter((f) => f.endsWith('.py')).sort().map((f) => `${RUNTIME_PKG}/${f}`);
}

function makeStepType(root: string, file: string): StepType {
  const m = readManifest(file);
  const base = basename(file, '.json');
  const name = `python:${base}`;
  const script = m.script ?? `${base.replace(/-/g, '_')}.py`;
  const when = m.outputs_when ?? [];
  const outputs = when.length
    ? (w: Record<string, unknown>) => {
        const out = { ...m.outputs };
        for (const c of when) if (c.in.includes(getPath(w, c.field))) Object.assign(out, c.outputs);
        return out;
      }
    : m.outputs;
  const ckpt = m.checkpoints;
  const outputsFor = (w: Record<string, unknown>) => (typeof outputs === 'function' ? outputs(w) : outputs);
  // Every `every` steps, and at `until` (the Trainer's save at the end of training): the last is the final model.
  const checkpointSteps = (w: Record<string, unknown>) => {
    const every = Number(getPath(w, ckpt!.every));
    const until = Number(getPath(w, ckpt!.until));
    if (getPath(w, ckpt!.when) !== true || !(every >= 1) || !(until >= 1)) return undefined;
    const out = new Map<number, string>();
    for (let n = every; n < until; n += every) out.set(n, `checkpoint_${n}`);
    return out.set(until, `checkpoint_${until}`);
  };
  return {
    name,
    description: m.description,
    schema: m.schema,
    outputs: ckpt
      ? (w: Record<string, unknown>) => {
          const out = { ...outputsFor(w) };
          for (const [n, o] of checkpointSteps(w) ?? []) out[o] ??= `saved/checkpoint-${n}`;
          return out;
        }
      : outputs,
    ...(ckpt ? { checkpoints: checkpointSteps } : {}),
    ...(m.metrics ? { metrics: m.metrics } : {}),
    inputs: m.inputs,
    // requirements.txt too: a new transformers or torch pin can change what training produces.
    sources: [script, basename(file), ...runtimeModules(root), 'requirements.txt', ...(m.modules ?? [])].map((f) => `${PY_DIR}/${f}`),
    preflight: (w, machine) => [...gpuPreflight(name, m.gpu_options ?? [], w, machine), ...modelPreflight(name, m, w, machine)],
    runtime: (settings) => pythonRuntime(root, settings),
    async run(ctx) {
      const python = await interpreter(ctx);
      const paramsFile = join(ctx.workDir, 'flow-params.json');
      const { reportTo, recipeName } = ctx.settings;
      // The flow run's tracker run (one per matrix variant): what the Trainer's callbacks attach to.
      const variant = /\[.*\]$/.exec(ctx.stepId)?.[0] ?? '';
      const trackers = reportTo ? { report_to: reportTo, tracker_run: { name: `${ctx.runId}${variant}`, flow_run: ctx.runId, recipe: recipeName } } : {};
      const params = { step: ctx.stepId, with: ctx.with, outputs: ctx.outputs, work_dir: ctx.workDir, checkpoint_dir: ctx.checkpointDir, ...trackers };
      await writeFile(paramsFile, JSON.stringify(params, null, 2));
      const launcher = ctx.with.launcher as Launcher | undefined;
      const launched = launcher !== undefined && launcher.type !== 'none';
      const nodes = ctx.resources?.nodes ?? 1;
      const eventsFile = join(ctx.workDir, 'flow-events.jsonl');
      const env: Record<string, string> = {
        HF_HUB_OFFLINE: '1',
        TRANSFORMERS_OFFLINE: '1',
        HF_HUB_DISABLE_TELEMETRY: '1',
        TOKENIZERS_PARALLELISM: 'false',
        // Python's per-process string-hash salt decides the order of sets, and sets reach saved files
        // (PEFT writes target_modules: all-linear as a list(set)): a fixed one makes the same inputs give
        // the same bytes in every run, on any executor.
        PYTHONHASHSEED: '0',
        // DeepSpeed (and its launcher) where the step runs without CUDA: its CPU accelerator, over gloo.
        ...(ctx.machine.cuda ? {} : { DS_ACCELERATOR: 'cpu' }),
        ...threadEnv(ctx.cpus, launched ? (launcher.nproc_per_node ?? 1) : 1),
        // The user's own (flow's environment, the step's env:) win, OMP_NUM_THREADS included.
        ...ctx.env,
        PYTHONUNBUFFERED: '1',
        TQDM_DISABLE: '1',
        FLOW_EVENTS_FILE: eventsFile,
      };
      delete env.FLOW_EVENTS_FD;

      const errors: ReportedError[] = [];
      const stderrTail: string[] = [];
      const result = await ctx.exec({
        file: python,
        args: launchArgs(join(ctx.root, PY_DIR, script), paramsFile, launcher, ctx.gpus, nodes),
        cwd: ctx.workDir,
        env,
        eventsFile,
        // A direct launch may use a pipe (fd 3) where the executor is local.
        eventsFd: !launched,
        perNode: launcher?.type === 'torchrun' && nodes > 1,
        resources: ctx.resources ?? { gpus: ctx.gpus.length },
        name: { runId: ctx.runId, stepId: ctx.stepId },
        signal: ctx.signal,
        onLine: (line, stream, partial) => {
          if (stream === 'stderr' && !partial) {
            stderrTail.push(line);
            if (stderrTail.length > 20) stderrTail.shift();
          }
          ctx.log(line, stream, partial);
        },
        onEvent: (line) => handleEvent(ctx, line, errors),
      });
      if (result.cancelled) throw new Error('cancelled');
      if (result.exitCode === 0) return;
      // An error event is the step's own one-line diagnosis (bad params, a failed load check): no
      // stack trace. Under torchrun/deepspeed the launcher's exit code replaces the rank's 2, and
      // every rank that hit the same error reported it: said once.
      const said = (kinds: string[]) => [...new Set(errors.filter((e) => kinds.includes(e.kind)).map((e) => e.message))];
      const diagnosis = said(['user', 'check']);
      if (diagnosis.length) throw new StepError(`${name}: ${diagnosis.join('; ')}`);
      // A crash: the exception's own line, as the step reported it, else as its traceback ends (the
      // whole traceback is in the log).
      const why = said(['crash']).join('; ') || exceptionLine(stderrTail);
      const how = result.detail ?? `exited with ${result.exitCode ?? result.signal}`;
      throw new StepError(`${name}: ${script} ${how}${why ? `: ${why}` : ''}`, result.signal || result.reason ? 'signal' : 'exit-code', result.exitCode);
    },
  };
}

/** Every python-steps/<name>.json as the step type `python:<name>`. */
export function loadPythonStepTypes(root: string): StepType[] {
  const dir = join(root, PY_DIR);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return files.map((f) => makeStepType(root, join(dir, f)));
}
