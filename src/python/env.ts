// The managed Python environment of the Python steps: a virtualenv named by
// the sha256 of the requirements files and the base interpreter's version, so
// a change of pins builds a new env and an unchanged one is reused, like any
// cached step. Built in a temp dir and renamed into place (a crash never leaves
// a half-installed env that looks ready), under a lock so two flow processes
// do not build the same env twice.
//
// A moved venv keeps working when run as `<env>/bin/python -m ...` (bin/python
// links to the base interpreter; sys.prefix comes from its location); only the
// console scripts' shebangs keep the temp path, and flow never calls those.

import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, utimesSync, writeSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { acquireLock } from '../proc/lock.js';
import { StepError } from '../steps/types.js';

export interface PythonEnvOptions {
  /** Repository root; requirements files are read from <root>/python-steps/. */
  root: string;
  /** Envs live in <cacheDir>/envs/<key>/ (unless envsDir says where). */
  cacheDir: string;
  /** The cache store's envs folder (the engine passes it; tests may leave it to cacheDir). */
  envsDir?: string;
  /** Extra requirement sets: 'x' adds python-steps/requirements-x.txt. */
  extras?: string[];
  /** An existing interpreter to use as is (recipe `python.interpreter` or FLOW_PYTHON). */
  interpreter?: string;
  /** The Python that creates the venv; default FLOW_BASE_PYTHON or python3. */
  basePython?: string;
  /** Requirement files to install instead of the shipped ones (tests). */
  requirementFiles?: string[];
  log?(line: string, stream?: 'stdout' | 'stderr'): void;
  signal?: AbortSignal;
}

export interface PythonEnv {
  /** The interpreter to run steps with. */
  python: string;
  /** Content key of the env; 'external' for a given interpreter. */
  key: string;
  /** The env folder (absent for an external interpreter). */
  dir?: string;
  /** True when this call built the env. */
  created: boolean;
}

const MARKER = 'flow-env.json';
/** pip's output of the build, inside a built env. */
const BUILD_LOG = 'flow-build.log';
const MIN_PYTHON: [number, number] = [3, 10];

/** The requirement files an env is built from, in install order. */
export function requirementFiles(root: string, extras: string[] = []): string[] {
  const dir = join(root, 'python-steps');
  const files = [join(dir, 'requirements.txt')];
  for (const extra of extras) {
    const f = join(dir, `requirements-${extra}.txt`);
    if (!/^[a-z0-9-]+$/.test(extra) || !existsSync(f)) {
      throw new StepError(`python.extras: unknown extra '${extra}' (no python-steps/requirements-${extra}.txt)`);
    }
    files.push(f);
  }
  return files;
}

/**
 * The requirement files of the env a step runs in: `python:predict` with `engine: vllm` gets an env
 * of its own, built from requirements-vllm.txt alone (vLLM's pins cannot coexist with
 * requirements.txt's: see that file); every other step the CPU env plus the recipe's extras.
 */
export function stepRequirementFiles(root: string, extras: string[], w: Record<string, unknown>): string[] {
  if (w.engine === 'vllm') return [join(root, 'python-steps', 'requirements-vllm.txt')];
  return requirementFiles(root, extras);
}

async function pythonVersion(python: string): Promise<{ version: string; platform: string }> {
  let out: string;
  try {
    const { execa } = await import('execa'); // loaded here only: `flow plan` never needs it
    const r = await execa(python, ['-c', 'import sys, platform; print(sys.version.split()[0], platform.machine(), sys.platform)']);
    out = r.stdout.trim();
  } catch (e) {
    throw new StepError(`python: cannot run '${python}': ${(e as Error).message.split('\n')[0]}`);
  }
  const [version = '', machine = '', sys = ''] = out.split(' ');
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1])) {
    throw new StepError(`python: '${python}' is Python ${version}; flow's Python steps need ${MIN_PYTHON.join('.')} or newer`);
  }
  return { version, platform: `${sys}-${machine}` };
}

/** sha256 over the interpreter's version and platform and each requirements file's content. */
export function envKey(version: string, platform: string, files: string[]): string {
  const h = createHash('sha256');
  h.update(`python ${version} ${platform}\n`);
  for (const f of files) h.update(`${f.split('/').pop()}\n`).update(readFileSync(f)).update('\n');
  return h.digest('hex').slice(0, 16);
}

function touchMarker(dir: string): void {
  const now = new Date();
  try {
    utimesSync(join(dir, MARKER), now, now);
  } catch {
    // A read-only cache still works; gc then judges the env by when it was built.
  }
}

/** Env dir -> the build this process has under way for it. */
const building = new Map<string, Promise<PythonEnv>>();

/** The interpreter for Python steps: the given one, or the managed env (built once, then reused). */
export async function ensurePythonEnv(opts: PythonEnvOptions): Promise<PythonEnv> {
  if (opts.interpreter) {
    await pythonVersion(opts.interpreter);
    return { python: opts.interpreter, key: 'external', created: false };
  }
  const base = opts.basePython ?? process.env.FLOW_BASE_PYTHON ?? 'python3';
  const { version, platform } = await pythonVersion(base);
  const files = opts.requirementFiles ?? requirementFiles(opts.root, opts.extras);
  const key = envKey(version, platform, files);
  const dir = join(opts.envsDir ?? join(opts.cacheDir, 'envs'), key);
  if (existsSync(join(dir, MARKER))) {
    touchMarker(dir); // gc keeps envs used since the oldest run it keeps
    return { python: join(dir, 'bin', 'python'), key, dir, created: false };
  }

  // The file lock keeps other processes out; this keeps concurrent requests of this process in line
  // (the lock takes a holder with our own pid for a stale one).
  const before = building.get(dir) ?? Promise.resolve();
  const mine = before.catch(() => undefined).then(() => buildLocked(base, dir, key, files, version, opts));
  building.set(dir, mine);
  try {
    return await mine;
  } finally {
    if (building.get(dir) === mine) building.delete(dir);
  }
}

async function buildLocked(base: string, dir: string, key: string, files: string[], version: string, opts: PythonEnvOptions): Promise<PythonEnv> {
  const python = join(dir, 'bin', 'python');
  if (existsSync(join(dir, MARKER))) return { python, key, dir, created: false };
  const envsDir = dirname(dir);
  const signal = opts.signal ?? new AbortController().signal;
  const lock = await acquireLock(join(envsDir, `${key}.lock`), signal, (pid) =>
    opts.log?.(`python env ${key}: waiting for process ${pid}, which is building it`),
  );
  try {
    // Whoever held the lock may have finished it.
    if (existsSync(join(dir, MARKER))) return { python, key, dir, created: false };
    await build(base, dir, key, files, version, opts, signal);
    return { python, key, dir, created: true };
  } finally {
    await lock.release();
  }
}

/** How far a pip install is, from its own lines: one phase line each time it moves on (resolving and
 * downloading, then installing), instead of its hundreds of lines. */
export function pipPhase(line: string, state: { phase: string }): string | undefined {
  const installing = /^Installing collected packages: (.*)$/.exec(line);
  if (installing && state.phase !== 'install') {
    state.phase = 'install';
    return `installing ${installing[1]!.split(', ').length} packages`;
  }
  return undefined;
}

async function build(base: string, dir: string, key: string, files: string[], version: string, opts: PythonEnvOptions, signal: AbortSignal): Promise<void> {
  const log = opts.log ?? (() => undefined);
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await rm(tmp, { recursive: true, force: true });
  await mkdir(dirname(dir), { recursive: true });
  const started = Date.now();
  // pip's whole output goes to a file beside the env (it outlives a failed build's temp dir); the
  // run's output gets a line per phase. Each build starts the file afresh.
  const pipLog = join(dirname(dir), `${key}.build.log`);
  const logFd = openSync(pipLog, 'w');
  const logLine = (line: string) => writeSync(logFd, `${line}\n`);
  let logOpen = true;
  const closeLog = () => {
    if (logOpen) closeSync(logFd);
    logOpen = false;
  };
  const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;
  const say = (what: string) => log(`python env ${key}: ${what} (${elapsed()})`);
  say(`building with Python ${version} from ${files.map((f) => basename(f)).join(', ')}: resolving and downloading the packages; pip's log: ${pipLog}`);
  // Loaded here only: a plan (which loads this module with the Python step types) never spawns.
  const { runProcess } = await import('../proc/process-group.js');
  const step = async (file: string, args: string[], what: string, onLine?: (line: string) => void) => {
    logLine(`$ ${[file, ...args].join(' ')}`);
    const tail: string[] = [];
    const r = await runProcess({
      file,
      args,
      cwd: opts.cacheDir,
      env: { ...(process.env as Record<string, string>), PIP_DISABLE_PIP_VERSION_CHECK: '1', PYTHONNOUSERSITE: '1', PIP_PROGRESS_BAR: 'off' },
      signal,
      onLine: (line) => {
        logLine(line);
        if (line.trim()) tail.push(line.trim());
        if (tail.length > 20) tail.shift();
        onLine?.(line);
      },
    });
    if (r.cancelled) throw new Error('cancelled');
    if (r.exitCode !== 0) {
      // pip's own diagnosis is its last ERROR line; the rest is in its log.
      const why = tail.filter((l) => /^ERROR:/.test(l)).at(-1) ?? tail.at(-1);
      throw new StepError(`python env ${key}: ${what} failed (exit ${r.exitCode ?? r.signal})${why ? `: ${why}` : ''}; pip's log: ${pipLog}`);
    }
  };
  try {
    await step(base, ['-m', 'venv', tmp], 'python -m venv');
    const py = join(tmp, 'bin', 'python');
    const pip = { phase: 'download' };
    await step(py, ['-m', 'pip', 'install', '--no-input', ...files.flatMap((f) => ['-r', f])], 'pip install', (line) => {
      const moved = pipPhase(line, pip);
      if (moved) say(moved);
    });
    await writeFile(join(tmp, MARKER), JSON.stringify({ key, python: version, files, createdAt: new Date().toISOString() }, null, 2));
    // A built env keeps its build's log inside; only a failed build's stays beside (gc drops it).
    closeLog();
    await rename(pipLog, join(tmp, BUILD_LOG));
    await rename(tmp, dir);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  } finally {
    closeLog();
  }
  log(`python env ${key}: ready in ${elapsed()} at ${dir} (pip's log: ${BUILD_LOG} there)`);
}
