import { existsSync, readdirSync } from 'node:fs';

// GPU ids handed out as slots: a step asking for n GPUs waits until n ids are
// free, gets them in CUDA_VISIBLE_DEVICES, and no two running steps share one.

export class GpuSlots {
  private free: number[];
  private waiters: Array<{ n: number; resolve: (ids: number[]) => void }> = [];

  constructor(readonly ids: number[]) {
    this.free = [...ids];
  }

  get total(): number {
    return this.ids.length;
  }

  acquire(n: number): Promise<number[]> {
    if (n === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      this.waiters.push({ n, resolve });
      this.dispatch();
    });
  }

  release(ids: number[]): void {
    this.free.push(...ids);
    this.free.sort((a, b) => a - b);
    this.dispatch();
  }

  /** First come, first served: a large request is not starved by a stream of small ones. */
  private dispatch(): void {
    while (this.waiters.length && this.waiters[0]!.n <= this.free.length) {
      const w = this.waiters.shift()!;
      w.resolve(this.free.splice(0, w.n));
    }
  }
}

/** GPU ids from --gpus, else CUDA_VISIBLE_DEVICES, else every GPU the NVIDIA driver lists, else none. */
export function gpuIds(flag: string | undefined): number[] {
  const spec = flag ?? process.env.CUDA_VISIBLE_DEVICES;
  if (spec === undefined) {
    // Cheaper than spawning nvidia-smi on every run.
    const dir = '/proc/driver/nvidia/gpus';
    return existsSync(dir) ? readdirSync(dir).map((_, i) => i) : [];
  }
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== '-1')
    .map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) throw new Error(`bad GPU id "${s}" (expected e.g. --gpus 0,1)`);
      return n;
    });
}
