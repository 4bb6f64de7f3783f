// The command line that starts a Python step: the script alone, or under its launcher (torchrun,
// deepspeed, accelerate; always `python -m`, see env.ts), and torch's CPU threads per rank.

export interface Launcher {
  type: 'none' | 'torchrun' | 'deepspeed' | 'accelerate';
  nproc_per_node?: number;
  nnodes?: number;
  node_rank?: number;
  master_addr?: string;
  master_port?: number;
  extra_args?: string[];
}

/**
 * The command line for a step: the script alone, or under its launcher (always `python -m`, see env.ts).
 * `nodes` > 1 (resources.nodes) under torchrun: the executor starts one torchrun per node and tells each
 * its node count, rank and the first node's address (ProcessSpec.perNode), so those options stay off
 * the command line, where torchrun would let them override what the executor says.
 */
export function launchArgs(script: string, paramsFile: string, launcher: Launcher | undefined, gpus: number[], nodes = 1): string[] {
  const tail = [script, '--params', paramsFile];
  const l = launcher ?? { type: 'none' };
  const n = l.nproc_per_node ?? 1;
  const nn = l.nnodes ?? 1;
  const rank = l.node_rank ?? 0;
  const addr = l.master_addr ?? '127.0.0.1';
  const port = l.master_port ?? 29500;
  const extra = l.extra_args ?? [];
  switch (l.type) {
    case 'none':
      return tail;
    case 'torchrun':
      if (nodes > 1) return ['-m', 'torch.distributed.run', `--nproc_per_node=${n}`, `--master_port=${port}`, ...extra, ...tail];
      return ['-m', 'torch.distributed.run', `--nproc_per_node=${n}`, `--nnodes=${nn}`, `--node_rank=${rank}`,
        `--master_addr=${addr}`, `--master_port=${port}`, ...extra, ...tail];
    case 'deepspeed':
      // The deepspeed launcher ignores CUDA_VISIBLE_DEVICES; --include names the GPUs flow handed out.
      return ['-m', 'deepspeed.launcher.runner',
        ...(nn === 1 && gpus.length ? [`--include=localhost:${gpus.join(',')}`] : [`--num_gpus=${n}`, `--num_nodes=${nn}`]),
        `--master_addr=${addr}`, `--master_port=${port}`, ...extra, ...tail];
    case 'accelerate':
      return ['-m', 'accelerate.commands.launch', `--num_processes=${n * nn}`, `--num_machines=${nn}`,
        `--machine_rank=${rank}`, `--main_process_ip=${addr}`, `--main_process_port=${port}`,
        ...(n * nn > 1 ? ['--multi_gpu'] : []), ...extra, ...tail];
  }
}

/**
 * torch's CPU threads (OpenMP's, which torch reads at start): the step's cores shared by the ranks
 * it starts on a node. Without it each rank starts one thread per core of the machine. torchrun
 * would set 1 per rank where this is unset.
 */
export function threadEnv(cpus: number | undefined, ranksPerNode: number): Record<string, string> {
  if (!cpus) return {};
  return { OMP_NUM_THREADS: String(Math.max(1, Math.floor(cpus / Math.max(1, ranksPerNode)))) };
}

/** The environment a step's process starts with: offline Hugging Face, a fixed hash seed, DeepSpeed's
 * CPU accelerator where there is no CUDA, torch's threads (`threads`), then the user's own (flow's
 * environment, the step's env:), then what the engine's protocol needs. */
export function processEnv(cuda: boolean, threads: Record<string, string>, user: Record<string, string>, eventsFile: string): Record<string, string> {
  const env: Record<string, string> = {
    HF_HUB_OFFLINE: '1',
    TRANSFORMERS_OFFLINE: '1',
    HF_HUB_DISABLE_TELEMETRY: '1',
    TOKENIZERS_PARALLELISM: 'false',
    // Python's per-process string-hash salt decides the order of sets, and sets reach saved files
    // (PEFT writes target_modules: all-linear as a list(set)): a fixed one makes the same inputs give
    // the same bytes in every run, on any executor.
    PYTHONHASHSEED: '0',
    // DeepSpeed (and its launcher) where the step runs without CUDA: its CPU accelerator, over gloo.
    ...(cuda ? {} : { DS_ACCELERATOR: 'cpu' }),
    ...threads,
    // The user's own win, OMP_NUM_THREADS included.
    ...user,
    PYTHONUNBUFFERED: '1',
    TQDM_DISABLE: '1',
    FLOW_EVENTS_FILE: eventsFile,
  };
  delete env.FLOW_EVENTS_FD;
  return env;
}
