import { availableParallelism } from 'node:os';

// The CPU cores a step is given. Libraries that compute on the CPU (torch, OpenMP, MKL) start one
// thread per core of the machine by default: --jobs steps at once, each with as many threads as
// there are cores, oversubscribe the machine (on a loaded 2-core machine one thread trained 3-4x
// and predicted 6x faster than torch's default).

/**
 * A step's cores: its `resources.cpus` (at most the machine's, on this machine), else its share of
 * the machine's cores over the --jobs steps that may run at once (at least 1). Undefined for a step
 * on a batch scheduler without `cpus:`, where the job's allocation decides.
 */
export function stepCpus(a: { asked?: number; local: boolean; jobs: number; cores?: number }): number | undefined {
  if (!a.local) return a.asked;
  const cores = a.cores ?? availableParallelism();
  return Math.max(1, Math.min(a.asked ?? Math.floor(cores / Math.max(1, a.jobs)), cores));
}
