// A process is identified by its pid and its start time. A pid alone can be reused
// after a crash (a new process gets the dead one's number), which would make a
// dead owner look alive forever; the start time (from /proc) tells them apart.

import { readFileSync } from 'node:fs';

/** The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), or '' where /proc is absent. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19];
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' && !procMounted() ? '' : undefined;
  }
}

let procChecked: boolean | undefined;
function procMounted(): boolean {
  procChecked ??= (() => {
    try {
      readFileSync('/proc/self/stat');
      return true;
    } catch {
      return false;
    }
  })();
  return procChecked;
}

/** This process's identity, as stored beside its pid. */
export const SELF_START = processStart(process.pid) ?? '';

/**
 * Whether the process that recorded (pid, start) still runs. Without a recorded start
 * (rows from older versions) or without /proc, falls back to a signal-0 probe.
 */
export function isAlive(pid: number, start?: string | null): boolean {
  if (start) {
    const now = processStart(pid);
    if (now !== '') return now === start;
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
