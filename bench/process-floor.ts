// bench/process-floor.ts — the floor under `flow run` for tiny shell steps: a
// Node process starts, and runs N `bash -eo pipefail -c 'echo i'` through the
// same process path a `run:` step takes (process-group.ts and the launcher),
// --jobs at a time, every output line read. No recipe, plan, database, lock,
// work dir, log or commit. bench/engine.ts times it beside `flow run` and make:
// whatever `flow run` takes beyond this is the engine's own per-step work.
//
// Usage: node dist/bench/process-floor.js N JOBS

import { runProcess } from '../src/proc/process-group.js';

const n = Number(process.argv[2] ?? 500);
const jobs = Number(process.argv[3] ?? 2);
const env = { ...process.env } as Record<string, string>;
const signal = new AbortController().signal;
let next = 0;
let lines = 0;

async function lane(): Promise<void> {
  while (next < n) {
    const i = next++;
    const r = await runProcess({ file: 'bash', args: ['-eo', 'pipefail', '-c', `echo ${i}`], cwd: process.cwd(), env, signal, onLine: () => void lines++ });
    if (r.exitCode !== 0) throw new Error(`echo ${i} exited ${r.exitCode}`);
  }
}

await Promise.all(Array.from({ length: jobs }, lane));
// Every step's one line arrived: the output was really read, not dropped.
if (lines !== n) throw new Error(`${lines} lines for ${n} steps`);
