// Runs a step's child process in its own process group so that cancelling
// stops the whole tree (a shell pipeline, torchrun's ranks), not only the
// direct child. Output is streamed line by line; nothing is buffered whole.

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { ROOT, RUNNING_COMPILED } from '../root.js';

export interface ProcessOptions {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  signal: AbortSignal;
  onLine(line: string, stream: 'stdout' | 'stderr'): void;
  /** Extra pipes beyond stdio (fd 3, ...): handed to `onExtraLine(fd, line)`. */
  extraFds?: number;
  onExtraLine?(fd: number, line: string): void;
  /** Seconds between SIGTERM and SIGKILL on cancel. */
  graceS?: number;
}

export interface ProcessResult {
  exitCode: number | null;
  signal: string | null;
  cancelled: boolean;
}

/** Process groups still running; killed if flow itself exits first. */
const liveGroups = new Set<number>();
let exitHookInstalled = false;
let reaper: ChildProcess | undefined;

/** Starts the reaper (see reaper.ts) on first use: it kills our groups if we die without cleaning up. */
function tellReaper(line: string): void {
  if (!reaper) {
    // Compiled JS in both cases: under vitest this module runs from source, the reaper from dist/.
    const script = RUNNING_COMPILED ? fileURLToPath(new URL('./reaper.js', import.meta.url)) : join(ROOT, 'dist/src/proc/reaper.js');
    reaper = spawn(process.execPath, [script], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
    reaper.unref();
    (reaper.stdin as NodeJS.WritableStream & { unref?: () => void }).on('error', () => undefined);
    // The pipe must not keep flow alive; its closing is the reaper's signal.
    ((reaper.stdin as unknown as { _handle?: { unref?: () => void } })._handle)?.unref?.();
  }
  reaper.stdin!.write(`${line}\n`);
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const pid of liveGroups) killGroup(pid, 'SIGKILL');
  });
}

export async function runProcess(opts: ProcessOptions): Promise<ProcessResult> {
  installExitHook();
  const extra = opts.extraFds ?? 0;
  const child = execa(opts.file, opts.args, {
    cwd: opts.cwd,
    env: opts.env,
    extendEnv: false,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', ...Array.from({ length: extra }, () => 'pipe' as const)],
    buffer: false,
    reject: false,
    cleanup: false,
  });
  const pid = child.pid;
  if (pid !== undefined) {
    liveGroups.add(pid);
    tellReaper(`+${pid}`);
  }

  const readers: Promise<void>[] = [];
  const pump = (stream: NodeJS.ReadableStream | null | undefined, onLine: (line: string) => void) => {
    if (!stream) return;
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', onLine);
    readers.push(new Promise((r) => rl.once('close', r)));
  };
  pump(child.stdout, (l) => opts.onLine(l, 'stdout'));
  pump(child.stderr, (l) => opts.onLine(l, 'stderr'));
  for (let fd = 3; fd < 3 + extra; fd++) {
    pump(child.stdio[fd] as NodeJS.ReadableStream, (l) => opts.onExtraLine?.(fd, l));
  }

  let cancelled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    if (pid === undefined) return;
    cancelled = true;
    killGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), (opts.graceS ?? 5) * 1000);
    killTimer.unref();
  };
  if (opts.signal.aborted) onAbort();
  else opts.signal.addEventListener('abort', onAbort, { once: true });

  const result = await child;
  await Promise.all(readers);
  opts.signal.removeEventListener('abort', onAbort);
  if (killTimer) clearTimeout(killTimer);
  if (pid !== undefined) {
    // The leader exited; make sure nothing it started lingers in its group.
    killGroup(pid, 'SIGKILL');
    liveGroups.delete(pid);
    tellReaper(`-${pid}`);
  }
  return { exitCode: result.exitCode ?? null, signal: result.signal ?? null, cancelled };
}
