// Adapts python-steps/<name>.json + its script to the engine's StepType.
//
// run() writes the resolved `with:` and output paths to a params file, starts
// the script with the managed interpreter (directly, or under torchrun /
// deepspeed / accelerate: launch.ts), streams its stdout/stderr to the log, and
// turns the JSON-lines events of its own channel into progress / metric /
// artifact calls (protocol.ts). The process runs through ctx.exec, on whatever
// executor the scheduler chose. The channel is fd 3 for a direct local launch; a
// launcher's ranks are spawned without inherited fds (and a remote executor
// has no pipe), so those write a file that the executor tails. The manifest's
// form is checked in manifest.ts, its GPU rules in gpu-rules.ts, its model
// folders in model-folder.ts.

import { readdirSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { StepRunContext, StepType } from '../steps/types.js';
import { ensurePythonEnv, stepRequirementFiles } from './env.js';
import { gpuPreflight } from './gpu-rules.js';
import { launchArgs, processEnv, threadEnv, type Launcher } from './launch.js';
import { compileInMemory, readManifest, type CompileSchema } from './manifest.js';
import { modelPreflight } from './model-folder.js';
import { handleEvent, stepFailure, type ReportedError } from './protocol.js';
import { pythonRuntime } from './runtime-identity.js';
import { getPath } from '../steps/types.js';

const PY_DIR = 'python-steps';
const RUNTIME_PKG = 'flow_runtime';

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

/** Every file of the shared runtime package, python-steps/flow_runtime/, at any depth (its modules and
 * the data they read, such as the DeepSpeed configs): all of it is part of every Python step's
 * implementation version, so no helper can escape a key by being left off a list. Named one by one:
 * a folder digest would also take in the bytecode that Python writes to __pycache__. */
function runtimeFiles(root: string): string[] {
  const walk = (rel: string): string[] =>
    readdirSync(join(root, PY_DIR, rel), { withFileTypes: true }).flatMap((e) => {
      if (e.isDirectory()) return e.name === '__pycache__' ? [] : walk(`${rel}/${e.name}`);
      return e.isFile() && !e.name.endsWith('.pyc') ? [`${rel}/${e.name}`] : [];
    });
  return walk(RUNTIME_PKG).sort();
}

function makeStepType(root: string, file: string, compile: CompileSchema): StepType {
  const m = readManifest(file, compile);
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
    sources: [script, basename(file), ...runtimeFiles(root), 'requirements.txt', ...(m.requirements ?? [])].map((f) => `${PY_DIR}/${f}`),
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
      const env = processEnv(ctx.machine.cuda, threadEnv(ctx.cpus, launched ? (launcher.nproc_per_node ?? 1) : 1), ctx.env, eventsFile);

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
      throw stepFailure(name, script, result, errors, stderrTail);
    },
  };
}

/** Every python-steps/<name>.json as the step type `python:<name>`; `compile` checks each manifest's form. */
export function loadPythonStepTypes(root: string, compile: CompileSchema = compileInMemory): StepType[] {
  const dir = join(root, PY_DIR);
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  } catch {
    return [];
  }
  return files.map((f) => makeStepType(root, join(dir, f), compile));
}
