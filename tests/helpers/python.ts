// Shared by the python-*.test.ts files: the interpreter (FLOW_PYTHON, else the
// managed env in the same cache dir the engine uses, so CI builds it once) and
// a real StepRunContext around a python:* step type.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensurePythonEnv } from '../../src/python/env.js';
import { loadPythonStepTypes } from '../../src/python/step-types.js';
import type { Progress } from '../../src/events.js';
import type { StepRunContext, StepType } from '../../src/steps/types.js';
import { localMachine } from '../../src/scheduler/executors/local-machine.js';
import { createLocalExecutor } from '../../src/scheduler/executors/local.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const FIXTURES = join(ROOT, 'tests', 'fixtures', 'python');

export async function testPython(): Promise<string> {
  const env = await ensurePythonEnv({
    root: ROOT,
    cacheDir: resolve(process.env.FLOW_CACHE ?? join(ROOT, 'cache')),
    interpreter: process.env.FLOW_PYTHON || undefined,
    log: (l) => process.stderr.write(`[python env] ${l}\n`),
  });
  return env.python;
}

export function stepType(name: string): StepType {
  const t = loadPythonStepTypes(ROOT).find((s) => s.name === name);
  if (!t) throw new Error(`no step type ${name}`);
  return t;
}

export interface Recorded {
  ctx: StepRunContext;
  progress: Progress[];
  metrics: Array<{ name: string; value: number }>;
  artifacts: Array<{ name: string; path: string }>;
  logs: string[];
  controller: AbortController;
}

export function tmp(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `flow-py-${prefix}-`));
}

/** A context like the engine's: fresh work dir, outputs inside it, FLOW_* env. */
export function makeCtx(
  type: StepType,
  w: Record<string, unknown>,
  opts: { python: string; cacheDir?: string; stepKey?: string; onArtifact?: (name: string, path: string, r: Recorded) => void },
): Recorded {
  const workDir = tmp('work');
  const rel = typeof type.outputs === 'function' ? type.outputs(w) : type.outputs;
  const outputs = Object.fromEntries(Object.entries(rel).map(([n, p]) => [n, join(workDir, p)]));
  const controller = new AbortController();
  const r: Recorded = { progress: [], metrics: [], artifacts: [], logs: [], controller } as unknown as Recorded;
  const cacheDir = opts.cacheDir ?? tmp('cache');
  const stepKey = opts.stepKey ?? 'k' + Math.random().toString(16).slice(2);
  r.ctx = {
    stepId: type.name.replace('python:', ''),
    runId: 'test-run',
    workDir,
    with: w,
    outputs,
    signal: controller.signal,
    gpus: [],
    env: {
      ...(process.env as Record<string, string>),
      FLOW_CACHE_DIR: cacheDir,
      FLOW_STEP_KEY: stepKey,
    },
    root: ROOT,
    checkpointDir: join(cacheDir, 'checkpoints', stepKey),
    settings: { python: { extras: [], interpreter: opts.python }, envsDir: join(cacheDir, 'envs') },
    exec: (spec) => createLocalExecutor().exec(spec),
    machine: localMachine(),
    log: (line) => r.logs.push(line),
    progress: (p) => r.progress.push(p),
    metric: (name, value) => r.metrics.push({ name, value }),
    artifact: (name, path) => {
      r.artifacts.push({ name, path });
      opts.onArtifact?.(name, path, r);
    },
  };
  return r;
}
