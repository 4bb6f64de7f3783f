// Named points for the fault-injection tests (tests/cache-faults.test.ts), unset
// (always, outside those tests) at the cost of one env lookup each:
// - FLOW_FAILPOINT=<name>: the process SIGKILLs itself when it reaches <name>, so a test can
//   stop a commit at each step of the way and check what survives.
// - FLOW_FAILPOINT_PAUSE=<name>:<file>: the first time <name> is reached the process creates
//   <file> and waits (at most FLOW_FAILPOINT_PAUSE_MS, 10 s by default) until the test removes
//   it: a test can do something at exactly that point (a late writer's write) instead of sleeping.

import { existsSync, writeFileSync } from 'node:fs';

const armed = process.env.FLOW_FAILPOINT;
const pause = process.env.FLOW_FAILPOINT_PAUSE;
let paused = false;

export function failpoint(name: string): void {
  if (armed === name) process.kill(process.pid, 'SIGKILL');
  if (pause !== undefined && !paused && pause.startsWith(`${name}:`)) {
    paused = true;
    const file = pause.slice(name.length + 1);
    writeFileSync(file, '');
    const until = Date.now() + Number(process.env.FLOW_FAILPOINT_PAUSE_MS ?? 10_000);
    const cell = new Int32Array(new SharedArrayBuffer(4));
    while (existsSync(file) && Date.now() < until) Atomics.wait(cell, 0, 0, 10);
  }
}
