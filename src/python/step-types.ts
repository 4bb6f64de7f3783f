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
import { StepError, type JsonSchema, type PreflightProblem, type StepRunContext, type StepType } from '../steps/types.js';
import { ensurePythonEnv, stepRequirementFiles } from './env.js';
import { cudaPresent, gpuCapabilities, NVIDIA_PROC } from './gpu.js';

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
  /** Combinations of options the step cannot honour, refused at plan time with the reason. */
  refusals?: Refusal[];
}

/** `field` set to one of `in` while every `when` condition holds: refused, because `why`. */
export interface Refusal {
  field: string;
  in: unknown[];
  when: Array<{ field: string; in: unknown[] }>;
  why: string;
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

function getPath(obj: Record<string, unknown>, dotted: string): unknown {
  let v: unknown = obj;
  for (const k of dotted.split('.')) {
    if (!v || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function ruleMatches(rule: GpuRule, w: Record<string, unknown>): unknown {
  const v = getPath(w, rule.field);
  if (v === undefined || v === null) return undefined;
  if (rule.in && rule.in.includes(v)) return v;
  if (rule.present) return v;
  if (rule.gt !== undefined && typeof v === 'number' && v > rule.gt) return v;
  return undefined;
}

/** Plan-time problems of GPU-only options on a machine without CUDA (or a GPU too old for them).
 * The step's runtime applies the same manifest rules again with torch (flow_runtime/runtime.py). */
export function gpuPreflight(name: string, rules: GpuRule[], w: Record<string, unknown>, env = process.env): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  const cuda = cudaPresent(env);
  for (const rule of rules) {
    const v = ruleMatches(rule, w);
    if (v === undefined) continue;
    const option = `${rule.field}: ${typeof v === 'string' ? v : JSON.stringify(v)}`;
    if (!cuda && rule.cpu_ok) continue;
    if (!cuda) {
      problems.push({
        field: rule.field,
        message:
          `${name}: ${option} needs a CUDA GPU (${rule.why}), and this machine has none ` +
          `(no ${NVIDIA_PROC}; set FLOW_ASSUME_GPU=1 if it does)`,
      });
    } else if (rule.capability !== undefined) {
      const caps = gpuCapabilities();
      const low = caps.filter((c) => c < rule.capability!);
      if (low.length) problems.push({ field: rule.field, message: `${name}: ${option}: ${rule.why}; this machine has compute capability ${low.join(', ')}` });
    }
  }
  return problems;
}

/** Plan-time problems of option combinations the manifest refuses (sft's packing with a seq2seq model). */
export function refusalPreflight(name: string, rules: Refusal[], w: Record<string, unknown>): PreflightProblem[] {
  const show = (f: string) => `${f}: ${JSON.stringify(getPath(w, f))}`;
  return rules
    .filter((r) => r.in.includes(getPath(w, r.field)) && r.when.every((c) => c.in.includes(getPath(w, c.field))))
    .map((r) => ({ field: r.field, message: `${name}: ${[r.field, ...r.when.map((c) => c.field)].map(show).join(' with ')}: ${r.why}` }));
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
  /** For 'error': 'user' (bad input) or 'check' (a result failed its check). */
  kind?: string;
  step?: number;
}

function handleEvent(ctx: StepRunContext, line: string, errors: string[]): void {
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
    case 'error':
      if (e.message) errors.push(e.message);
      break;
    default:
      // 'loss' (kept in the loss_history output), 'resumed' (logged by the step): nothing more to do.
      break;
  }
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
  return {
    name,
    description: m.description,
    schema: m.schema,
    outputs,
    inputs: m.inputs,
    // requirements.txt too: a new transformers or torch pin can change what training produces.
    sources: [script, basename(file), ...runtimeModules(root), 'requirements.txt', ...(m.modules ?? [])].map((f) => `${PY_DIR}/${f}`),
    preflight: (w) => [...refusalPreflight(name, m.refusals ?? [], w), ...gpuPreflight(name, m.gpu_options ?? [], w)],
    runtime: (settings) => pythonRuntime(root, settings),
    async run(ctx) {
      const python = await interpreter(ctx);
      const paramsFile = join(ctx.workDir, 'flow-params.json');
      const params = { step: ctx.stepId, with: ctx.with, outputs: ctx.outputs, work_dir: ctx.workDir, checkpoint_dir: ctx.checkpointDir };
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
        // DeepSpeed (and its launcher) on a machine without CUDA: its CPU accelerator, over gloo.
        ...(cudaPresent(ctx.env) ? {} : { DS_ACCELERATOR: 'cpu' }),
        ...ctx.env,
        PYTHONUNBUFFERED: '1',
        TQDM_DISABLE: '1',
        FLOW_EVENTS_FILE: eventsFile,
      };
      delete env.FLOW_EVENTS_FD;

      const errors: string[] = [];
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
      if (errors.length) throw new StepError(`${name}: ${[...new Set(errors)].join('; ')}`);
      const why = stderrTail.filter((l) => l.trim()).slice(-3).join(' | ');
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
