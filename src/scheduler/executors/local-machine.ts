// The machine the local executor runs steps on (this one), as the plan's
// preflight sees it: whether it can run GPU-only options, decided cheaply:
// importing torch to ask takes seconds and needs the managed env, which may
// not exist yet. The NVIDIA kernel driver publishes /proc/driver/nvidia/version
// whenever it is loaded (also inside containers given GPUs), so its presence
// is the test. FLOW_ASSUME_GPU=1/0 overrides it (a driver-less build host, or
// to force the CPU behaviour). The step itself checks torch.cuda.is_available()
// again when it runs.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { StepMachine } from '../../steps/types.js';

// node:child_process (with net, dgram, streams) loads only when a GPU option is checked: a plan
// loads this module with every local step.
const require = createRequire(import.meta.url);

/** The local executor's name: the default. */
export const LOCAL = 'local';

export const NVIDIA_PROC = '/proc/driver/nvidia/version';

export function cudaPresent(env: Record<string, string | undefined> = process.env): boolean {
  const assume = env.FLOW_ASSUME_GPU;
  if (assume === '1' || assume === 'true') return true;
  if (assume === '0' || assume === 'false') return false;
  return existsSync(NVIDIA_PROC);
}

let capabilities: number[] | undefined;

/** Compute capabilities of the visible GPUs (nvidia-smi), or [] when it cannot tell. */
export function gpuCapabilities(): number[] {
  if (capabilities) return capabilities;
  try {
    const { execFileSync } = require('node:child_process') as typeof import('node:child_process');
    const stdout = execFileSync('nvidia-smi', ['--query-gpu=compute_cap', '--format=csv,noheader'], { timeout: 10_000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    capabilities = stdout.split('\n').map(Number).filter((n) => Number.isFinite(n) && n > 0);
  } catch {
    capabilities = [];
  }
  return capabilities;
}

/** This machine, for a step the local executor runs. */
export function localMachine(env: Record<string, string | undefined> = process.env): StepMachine {
  return {
    executor: LOCAL,
    cuda: cudaPresent(env),
    capabilities: gpuCapabilities,
    noGpu: `this machine has none (no ${NVIDIA_PROC}; set FLOW_ASSUME_GPU=1 if it does)`,
    allowCpu: false,
  };
}
