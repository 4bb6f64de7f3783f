// The local executor behind ctx.exec: output lines, events over fd 3 or a
// tailed file, exit codes, and a cancel that stops the whole process group.

import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { createLocalExecutor } from '../../src/scheduler/executors/local.js';
import type { ProcessSpec } from '../../src/steps/process-spec.js';
import { isAlive } from '../../src/proc/identity.js';

const local = createLocalExecutor();

function spec(script: string, over: Partial<ProcessSpec> = {}) {
  const lines: string[] = [];
  const events: string[] = [];
  const cwd = mkdtempSync(join(tmpdir(), 'flow-exec-'));
  const s: ProcessSpec = {
    file: 'bash',
    args: ['-c', script],
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    name: { runId: 'r', stepId: 's' },
    signal: new AbortController().signal,
    onLine: (l, stream) => lines.push(`${stream}:${l}`),
    onEvent: (l) => events.push(l),
    ...over,
  };
  return { s, lines, events, cwd };
}

it('streams stdout and stderr lines and reports the exit code', async () => {
  const { s, lines } = spec('echo out; echo err >&2; exit 3');
  const o = await local.exec(s);
  expect(o).toMatchObject({ exitCode: 3, signal: null, cancelled: false });
  expect(lines.sort()).toEqual(['stderr:err', 'stdout:out']);
});

it('events come over fd 3 when asked, else from the events file', async () => {
  const viaFd = spec('echo "$FLOW_EVENTS_FD" ; echo \'{"type":"metric"}\' >&3', { eventsFd: true });
  viaFd.s.eventsFile = join(viaFd.cwd, 'events.jsonl');
  viaFd.s.env.FLOW_EVENTS_FILE = viaFd.s.eventsFile;
  await local.exec(viaFd.s);
  expect(viaFd.lines).toEqual(['stdout:3']);
  expect(viaFd.events).toEqual(['{"type":"metric"}']);

  const viaFile = spec('echo \'{"type":"progress"}\' >> "$FLOW_EVENTS_FILE"; echo \'{"type":"metric"}\' >> "$FLOW_EVENTS_FILE"');
  viaFile.s.eventsFile = join(viaFile.cwd, 'events.jsonl');
  viaFile.s.env.FLOW_EVENTS_FILE = viaFile.s.eventsFile;
  await local.exec(viaFile.s);
  expect(viaFile.events).toEqual(['{"type":"progress"}', '{"type":"metric"}']);
});

it('a cancel stops the whole process group, grandchildren included', async () => {
  const ac = new AbortController();
  const { s, cwd } = spec('sleep 30 & echo $! > child.pid; wait', { signal: ac.signal, graceS: 1 });
  const execution = local.exec(s);
  let pid = 0;
  for (let i = 0; i < 100 && !pid; i++) {
    await new Promise((r) => setTimeout(r, 50));
    pid = Number(readFileSyncSafe(join(cwd, 'child.pid')));
  }
  expect(pid).toBeGreaterThan(0);
  ac.abort();
  const o = await execution;
  expect(o).toMatchObject({ cancelled: true, reason: 'cancelled' });
  // Killed: gone, or a zombie waiting for a reaper (a container's init may not reap).
  let alive = true;
  for (let i = 0; i < 40 && alive; i++) {
    alive = isAlive(pid) && !/^\S+ \(.*\) Z/.test(readFileSyncSafe(`/proc/${pid}/stat`)) && existsSync(`/proc/${pid}`);
    if (alive) await new Promise((r) => setTimeout(r, 50));
  }
  expect(alive).toBe(false);
});

function readFileSyncSafe(p: string): string {
  try {
    return readFileSync(p, 'utf8').trim();
  } catch {
    return '';
  }
}

it('a program that cannot start fails the step with a line saying why (it used to hang the run)', async () => {
  const { s, lines } = spec('', { file: 'no-such-program-flow-test', args: [] });
  const o = await local.exec(s);
  expect(o).toMatchObject({ exitCode: 127, cancelled: false });
  expect(lines).toEqual([expect.stringMatching(/^stderr:flow: cannot start no-such-program-flow-test: .*ENOENT/)]);
});

it('a program found on PATH sees the name it was asked for as argv[0]', async () => {
  const { s, lines } = spec('echo "$0"');
  expect((await local.exec(s)).exitCode).toBe(0);
  expect(lines).toEqual(['stdout:bash']);
});

it('steps are started by the launcher, a small process beside flow, not forked from flow itself', async () => {
  const { s, lines } = spec('tr "\\0" " " < /proc/$PPID/cmdline; echo');
  expect((await local.exec(s)).exitCode).toBe(0);
  expect(lines).toEqual([expect.stringMatching(/python3? -I -S \S*src\/proc\/launcher\.py/)]);
});

it('with FLOW_LAUNCHER=direct (or no python3) flow spawns the step itself, with the same results', async () => {
  const was = process.env.FLOW_LAUNCHER;
  process.env.FLOW_LAUNCHER = 'direct';
  try {
    const { s, lines } = spec('echo out; echo err >&2; echo "$PPID" > ppid; exit 3');
    const o = await local.exec(s);
    expect(o).toMatchObject({ exitCode: 3, signal: null, cancelled: false });
    expect(lines.sort()).toEqual(['stderr:err', 'stdout:out']);
    expect(Number(readFileSync(join(s.cwd, 'ppid'), 'utf8'))).toBe(process.pid);
  } finally {
    if (was === undefined) delete process.env.FLOW_LAUNCHER;
    else process.env.FLOW_LAUNCHER = was;
  }
});

// Last in this file: it kills this process's launcher.
it('if the launcher dies, the steps after it still run (spawned by flow itself)', async () => {
  const first = spec('echo $PPID');
  expect((await local.exec(first.s)).exitCode).toBe(0);
  const launcherPid = Number(first.lines[0]!.replace('stdout:', ''));
  expect(readFileSync(`/proc/${launcherPid}/cmdline`, 'utf8')).toContain('launcher.py');
  process.kill(launcherPid, 'SIGKILL');
  for (let i = 0; i < 100 && isAlive(launcherPid) && !/^\S+ \(.*\) Z/.test(readFileSyncSafe(`/proc/${launcherPid}/stat`)); i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100)); // flow hears the exit
  const after = spec('echo "$PPID"; echo ok');
  expect(await local.exec(after.s)).toMatchObject({ exitCode: 0, cancelled: false });
  expect(after.lines).toEqual([`stdout:${process.pid}`, 'stdout:ok']);
});
