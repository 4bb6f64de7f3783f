// Executors by type. A new one (Slurm) is a file beside local.ts plus one
// registerExecutor line below; the scheduler picks one per step from
// steps.<id>.executor, the recipe's executor:, --executor, else local.

import type { ExecutorConfig, Resources } from '../../recipe/types.js';
import type { Executor } from '../../steps/process-spec.js';
import type { StepMachine } from '../../steps/types.js';
import { createLocalExecutor, LOCAL } from './local.js';
import { localMachine } from './local-machine.js';
import { SlurmExecutor, slurmMachine, slurmSettings } from './slurm.js';

/** What an executor factory gets besides its recipe options. */
export interface ExecutorEnv {
  cacheDir: string;
}

export type ExecutorFactory = (config: ExecutorConfig, env: ExecutorEnv) => Executor;

/** Where an executor would run a step that asks for `resources`, known before anything runs (StepMachine). */
export type MachineOf = (config: ExecutorConfig, resources: Resources) => StepMachine;

const factories = new Map<string, { make: ExecutorFactory; machine: MachineOf }>();

export function registerExecutor(type: string, make: ExecutorFactory, machine: MachineOf): void {
  factories.set(type, { make, machine });
}

registerExecutor(LOCAL, () => createLocalExecutor(), () => localMachine());
registerExecutor('slurm', (config, env) => new SlurmExecutor(slurmSettings(config), env.cacheDir), (_config, resources) => slurmMachine(resources));

/** The machine a step would run on under `config` (an executor type that exists: see hasExecutor). */
export function machineOf(config: ExecutorConfig, resources: Resources): StepMachine {
  const f = factories.get(config.type);
  if (!f) throw new Error(`unknown executor "${config.type}" (known: ${executorTypes().join(', ')})`);
  return f.machine(config, resources);
}

export function executorTypes(): string[] {
  return [...factories.keys()].sort();
}

export function hasExecutor(type: string): boolean {
  return factories.has(type);
}

/** One executor per distinct configuration in a run, so a Slurm executor can cancel all its jobs at the end. */
export class ExecutorPool {
  private readonly made = new Map<string, Executor>();

  constructor(private readonly env: ExecutorEnv) {}

  get(config: ExecutorConfig): Executor {
    const id = JSON.stringify(config);
    let e = this.made.get(id);
    if (!e) {
      const factory = factories.get(config.type);
      if (!factory) throw new Error(`unknown executor "${config.type}" (known: ${executorTypes().join(', ')})`);
      e = factory.make(config, this.env);
      this.made.set(id, e);
    }
    return e;
  }

  all(): Executor[] {
    return [...this.made.values()];
  }
}
