// What bench/engine.ts and bench/engine-scale.ts both need: timing a command,
// taking a median, and printing a figure beside its baseline.

import { spawnSync } from 'node:child_process';

/** Wall ms of a command; throws on failure so a broken run is never timed. */
export function timeOnce(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): number {
  const t0 = performance.now();
  const r = spawnSync(file, args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}: ${String(r.stderr).slice(-2000)}`);
  return ms;
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** "what: flow X, baseline Y, ratio Z", and whether the goal (a ratio, or with goalText a figure of flow's) is met. */
export function line(what: string, flow: number, baseline: number, unit: string, goal?: number, goalText?: string): void {
  const ratio = flow / baseline;
  const verdict = goal === undefined ? '' : `  (goal ${goalText ?? `<= ${goal}x`}: ${(goalText ? flow : ratio) <= goal ? 'met' : 'MISSED'})`;
  console.log(`${what}: flow ${flow.toFixed(1)} ${unit}, baseline ${baseline.toFixed(1)} ${unit}, ratio ${ratio.toFixed(2)}${verdict}`);
}
