// The local executor: runs a step's process on this machine in its own
// process group (src/proc/process-group.ts: reaper, SIGTERM -> grace ->
// SIGKILL on cancel), streams its output line by line, and reads its events
// from fd 3 (a direct launch) or by tailing its events file (a launcher whose
// ranks cannot inherit a pipe).

import { runProcess } from '../../proc/process-group.js';
import { LineTail } from '../../proc/tail.js';
import type { Executor, ProcessOutcome, ProcessSpec } from '../../steps/process-spec.js';

import { LOCAL } from './local-machine.js';

export { LOCAL };

async function execLocal(spec: ProcessSpec): Promise<ProcessOutcome> {
  const nodes = spec.resources?.nodes ?? 1;
  if (spec.perNode && nodes > 1) {
    // One torchrun here would wait forever for the other nodes' ranks.
    const detail = `needs ${nodes} nodes (resources.nodes), and the local executor runs on this machine only: run it with --executor slurm`;
    spec.onLine(`flow: ${detail}`, 'stderr');
    return { exitCode: null, signal: null, cancelled: false, reason: 'unsupported', detail };
  }
  const useFd = Boolean(spec.eventsFd && spec.onEvent);
  const env = { ...spec.env };
  if (useFd) {
    env.FLOW_EVENTS_FD = '3';
    delete env.FLOW_EVENTS_FILE;
  }
  const tail = !useFd && spec.eventsFile && spec.onEvent ? new LineTail(spec.eventsFile, spec.onEvent) : undefined;
  tail?.start();
  try {
    const r = await runProcess({
      file: spec.file,
      args: spec.args,
      cwd: spec.cwd,
      env,
      signal: spec.signal,
      onLine: spec.onLine,
      extraFds: useFd ? 1 : 0,
      onExtraLine: (_fd, line) => spec.onEvent?.(line),
      graceS: spec.graceS,
    });
    return { ...r, ...(r.cancelled ? { reason: 'cancelled' } : {}) };
  } finally {
    await tail?.stop();
  }
}

export function createLocalExecutor(): Executor {
  return { name: LOCAL, exec: execLocal };
}
