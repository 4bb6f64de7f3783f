// Runs a step's child process in its own process group so that cancelling
// stops the whole tree (a shell pipeline, torchrun's ranks), not only the
// direct child. Output is streamed line by line; nothing is buffered whole.

import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { delimiter, isAbsolute, join } from 'node:path';
import { ROOT } from '../root.js';
import { launcher, type LeaderExit } from './launcher.js';

export interface ProcessOptions {
  file: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  signal: AbortSignal;
  /** One line of output; `partial` when a longer line was cut here and goes on in the next call. */
  onLine(line: string, stream: 'stdout' | 'stderr', partial?: boolean): void;
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
    // tsc's output in every case: under vitest this module runs from source, in the CLI from the
    // esbuild bundle (scripts/bundle.mjs), neither of which has reaper.js beside it.
    const script = join(ROOT, 'dist/src/proc/reaper.js');
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

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What splitLines reads: a Node stream, or the launcher's relay of one (launcher.ts). */
interface ByteSource {
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  once(event: 'close' | 'error', fn: () => void): unknown;
}

/** Longest line handed on whole; a longer one is split, so memory stays bounded whatever a step prints. */
export const MAX_LINE = 64 * 1024;

/**
 * Splits a byte stream into lines (\n or \r\n). A line longer than MAX_LINE is handed on in
 * pieces, each but the last with `partial` set, so memory stays bounded whatever a step prints.
 */
export function splitLines(stream: ByteSource, onLine: (line: string, partial: boolean) => void): Promise<void> {
  const decoder = new StringDecoder('utf8');
  let rest = '';
  const take = (text: string) => {
    rest += text;
    let start = 0;
    for (;;) {
      const nl = rest.indexOf('\n', start);
      if (nl < 0) break;
      const end = nl > start && rest.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      onLine(rest.slice(start, end), false);
      start = nl + 1;
    }
    rest = rest.slice(start);
    while (rest.length >= MAX_LINE) {
      onLine(rest.slice(0, MAX_LINE), true);
      rest = rest.slice(MAX_LINE);
    }
  };
  return new Promise((res) => {
    stream.on('data', (chunk: Buffer) => take(decoder.write(chunk)));
    stream.once('close', () => {
      take(decoder.end());
      if (rest) onLine(rest, false);
      rest = '';
      res();
    });
    stream.once('error', () => res());
  });
}

/** `${PATH}\0${file}` -> absolute path of an executable found on that PATH. */
const resolved = new Map<string, string>();

/**
 * The absolute path `file` names on `path`, looked up once per (PATH, file) like a shell's hash
 * table: spawning by bare name makes the child try execve in every PATH entry before the right
 * one, on every step. A name not found is handed back as is, so the spawn reports ENOENT itself.
 */
export function resolveExecutable(file: string, path: string | undefined): string {
  if (file.includes('/') || !path) return file;
  const key = `${path}\0${file}`;
  const hit = resolved.get(key);
  if (hit) return hit;
  for (const dir of path.split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue; // a relative entry depends on the step's cwd: leave it to execvp
    const candidate = join(dir, file);
    try {
      accessSync(candidate, constants.X_OK);
      resolved.set(key, candidate);
      return candidate;
    } catch {
      // not here
    }
  }
  return file;
}

/** A started step process, however it was started: its group, its output streams by fd, its end. */
interface Started {
  pid?: number;
  streams: Map<number, ByteSource>;
  exit: Promise<LeaderExit>;
  /** The group has ended (`left`: flow stopped what outlived the leader): whoever would kill it if flow died can forget it. */
  forget(pid: number, left: boolean): void;
  /** Stops reading the output streams: each ends now, whoever still holds its other end. */
  abandon(): void;
}

/**
 * How long output is still read after the leader exited (and, if its group outlived it, after
 * the group was stopped): what a process outside the group (one the launcher could not find)
 * still holds open no longer keeps the step running.
 */
const DRAIN_MS = 2000;

/** Started by Node itself: a fork of this process (what the launcher avoids), watched by the reaper. */
function spawnDirect(file: string, opts: ProcessOptions, extra: number): Started {
  // Plain child_process.spawn: execa's per-spawn machinery (and its 100-odd modules) bought nothing here.
  const child = spawn(file, opts.args, {
    argv0: opts.file, // what the program sees as its name stays what the step asked for
    cwd: opts.cwd,
    env: opts.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', ...Array.from({ length: extra }, () => 'pipe' as const)],
  });
  if (child.pid !== undefined) tellReaper(`+${child.pid}`);
  const streams = new Map<number, ByteSource>();
  for (let fd = 1; fd < 3 + extra; fd++) if (child.stdio[fd]) streams.set(fd, child.stdio[fd] as NodeJS.ReadableStream);
  // A process that cannot start (no such program, not executable) emits 'error' and never 'exit'.
  const exit = new Promise<LeaderExit>((res) => {
    child.once('exit', (code, signal) => res({ code, signal }));
    child.on('error', (e) => {
      opts.onLine(`flow: cannot start ${opts.file}: ${e.message}`, 'stderr');
      res({ code: 127, signal: null });
    });
  });
  const abandon = () => {
    for (const s of streams.values()) (s as NodeJS.ReadableStream & { destroy(): void }).destroy();
  };
  return { pid: child.pid, streams, exit, forget: (pid) => tellReaper(`-${pid}`), abandon };
}

/**
 * The interpreter for flow's own launcher, which runs no user code, so any python3 does: the
 * system's when there is one, since a version manager's shim on PATH (pyenv's is a bash script)
 * adds ~0.2 s to every run's first step; else the one on PATH.
 */
function launcherPython(): string {
  systemPython ??= process.platform === 'linux' && existsSync('/usr/bin/python3');
  return systemPython ? '/usr/bin/python3' : resolveExecutable('python3', process.env.PATH);
}
let systemPython: boolean | undefined;

/** Started by the launcher (launcher.ts) when there is one; else directly. */
async function start(opts: ProcessOptions, extra: number): Promise<Started> {
  const file = resolveExecutable(opts.file, opts.env.PATH);
  const python = launcherPython();
  const l = extra <= 1 ? launcher(python.includes('/') ? python : undefined) : undefined;
  if (!l) return spawnDirect(file, opts, extra);
  try {
    const x = await l.start({ file, argv: [opts.file, ...opts.args], cwd: opts.cwd, env: opts.env, extra });
    // The launcher forgets by itself a group that was empty when its leader exited.
    const abandon = () => {
      for (const s of x.streams.values()) s.end();
    };
    return { pid: x.pid, streams: x.streams, exit: x.exit, forget: (pid, left) => left && l.forget(pid), abandon };
  } catch (e) {
    if (l.dead) return spawnDirect(file, opts, extra); // the launcher itself failed: this step is not at fault
    opts.onLine(`flow: cannot start ${opts.file}: ${(e as Error).message}`, 'stderr');
    return { streams: new Map(), exit: Promise.resolve({ code: 127, signal: null }), forget: () => undefined, abandon: () => undefined };
  }
}

export async function runProcess(opts: ProcessOptions): Promise<ProcessResult> {
  installExitHook();
  const extra = opts.extraFds ?? 0;
  const child = await start(opts, extra);
  const pid = child.pid;
  if (pid !== undefined) liveGroups.add(pid);

  const readers: Promise<void>[] = [];
  const pump = (stream: ByteSource | undefined, onLine: (line: string, partial: boolean) => void) => {
    if (!stream) return;
    readers.push(splitLines(stream, onLine));
  };
  pump(child.streams.get(1), (l, partial) => opts.onLine(l, 'stdout', partial));
  pump(child.streams.get(2), (l, partial) => opts.onLine(l, 'stderr', partial));
  for (let fd = 3; fd < 3 + extra; fd++) {
    // An event line is small JSON; the pieces of an over-long one are dropped whole.
    let inLong = false;
    pump(child.streams.get(fd), (l, partial) => {
      if (!partial && !inLong) opts.onExtraLine?.(fd, l);
      inLong = partial;
    });
  }

  let cancelled = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stopGroup = () => {
    if (pid === undefined) return;
    killGroup(pid, 'SIGTERM');
    killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), (opts.graceS ?? 5) * 1000);
    killTimer.unref();
  };
  const onAbort = () => {
    cancelled = true;
    stopGroup();
  };
  if (opts.signal.aborted) onAbort();
  else opts.signal.addEventListener('abort', onAbort, { once: true });

  // The step ends when the group's leader exits, not when the last holder of its
  // stdout does: a background child left behind is stopped as on cancel. The launcher
  // says whether the group outlived its leader; for a direct start the kernel is asked.
  const exit = await child.exit;
  const left = pid !== undefined && (exit.groupLeft ?? groupAlive(pid));
  if (left && !cancelled) {
    opts.onLine(`flow: the step left background processes running; stopping them`, 'stderr');
    stopGroup();
  }
  const drained = Promise.all(readers).then(() => true);
  let drainTimer: NodeJS.Timeout | undefined;
  const wait = left || cancelled ? (opts.graceS ?? 5) * 1000 + DRAIN_MS : DRAIN_MS;
  const timedOut = new Promise<boolean>((res) => (drainTimer = setTimeout(() => res(false), wait)));
  if (!(await Promise.race([drained, timedOut]))) {
    opts.onLine(`flow: a process the step started still holds its output, outside its process group; flow stops reading it`, 'stderr');
    child.abandon();
    await drained;
  }
  clearTimeout(drainTimer);
  opts.signal.removeEventListener('abort', onAbort);
  if (killTimer) clearTimeout(killTimer);
  if (pid !== undefined) {
    // Make sure nothing the leader started lingers in its group. A group that was empty stays
    // empty: only a member can bring a process into it.
    if (left) killGroup(pid, 'SIGKILL');
    liveGroups.delete(pid);
    child.forget(pid, left);
  }
  const result = { exitCode: exit.code, signal: exit.signal };
  return { exitCode: result.exitCode ?? null, signal: result.signal ?? null, cancelled };
}
