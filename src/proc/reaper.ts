// The reaper: a tiny detached process that outlives flow to kill orphans.
// flow tells it, over a pipe, each process group it starts ("+pgid") and
// ends ("-pgid"). When the pipe closes, flow is gone: a normal exit will
// have ended every group already, but after a SIGKILL or a crash the groups
// still listed are killed here, so no step process is left running.

import { createInterface } from 'node:readline';

const groups = new Set<number>();
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const pgid = Number(line.slice(1));
  if (!Number.isInteger(pgid) || pgid <= 1) return;
  if (line.startsWith('+')) groups.add(pgid);
  else groups.delete(pgid);
});
rl.on('close', () => {
  for (const pgid of groups) {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  process.exit(0);
});
