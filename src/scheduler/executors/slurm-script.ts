// The Slurm job's side of a step: its batch script (the step's command in its work dir, writing
// the exit status as its last act), its name (which adoption looks for), and the sbatch options
// from the step's resources and the recipe's executor settings.

import type { ExecutorConfig } from '../../recipe/types.js';
import type { ProcessSpec } from '../../steps/process-spec.js';

export interface SlurmSettings {
  partition?: string;
  account?: string;
  /** Default wall-time limit (HH:MM:SS or D-HH:MM:SS); a step's resources.time wins. */
  time?: string;
  /** Further sbatch options, e.g. ['--qos=high']. */
  extra?: string[];
}

/** Where the wrapper keeps its files inside the step's work dir. */
export const JOB_DIR = '.flow-job';

/** Single-quotes a word for bash. */
function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A launcher to run once per node of a multi-node job (ProcessSpec.perNode). */
export function perNode(spec: ProcessSpec): boolean {
  return Boolean(spec.perNode && (spec.resources?.nodes ?? 1) > 1);
}

/**
 * The job's batch script: runs the step's command in its work dir and, as its last act, writes the
 * exit status. A multi-node launcher (perNode) runs through srun, one copy per node, each told the
 * node count, its node's rank and the first node's name, where they rendezvous.
 */
export function jobScript(spec: ProcessSpec, exit: string): string {
  const command = [spec.file, ...spec.args].map(shq).join(' ');
  const run = perNode(spec)
    ? [
        '# One copy per node, rendezvousing at the first node of the allocation.',
        'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        'export MASTER_ADDR NNODES=$SLURM_JOB_NUM_NODES PET_MASTER_ADDR=$MASTER_ADDR PET_NNODES=$SLURM_JOB_NUM_NODES',
        // srun (Slurm 22.05) does not take --cpus-per-task over from the batch job: say it again.
        `srun --nodes=$SLURM_JOB_NUM_NODES --ntasks=$SLURM_JOB_NUM_NODES --ntasks-per-node=1${spec.resources?.cpus ? ` --cpus-per-task=${spec.resources.cpus}` : ''} --kill-on-bad-exit=1 \\`,
        `  bash -c 'export NODE_RANK=$SLURM_NODEID PET_NODE_RANK=$SLURM_NODEID; exec "$@"' flow-node ${command} </dev/null`,
      ]
    : [`${command} </dev/null`];
  return [
    '#!/bin/bash',
    '# Written by flow: runs one step and records its exit status as its last act.',
    `cd ${shq(spec.cwd)} || exit 1`,
    ...run,
    'code=$?',
    `printf '%s\\n' "$code" > ${shq(`${exit}.tmp`)} && mv ${shq(`${exit}.tmp`)} ${shq(exit)}`,
    'exit $code',
    '',
  ].join('\n');
}

/** Job names: flow-<run>-<step>-<key prefix>; the key prefix is what adoption looks for. */
export function jobNameOf(runId: string, stepId: string, key: string): string {
  const clean = (s: string) => s.replace(/[^A-Za-z0-9._=+-]/g, '_');
  return `flow-${clean(runId)}-${clean(stepId)}-${keyTag(key)}`;
}

export function keyTag(key: string): string {
  return `k${key.slice(0, 20)}`;
}

/** Maps a step's resources and the executor settings to sbatch options. */
export function sbatchOptions(settings: SlurmSettings, resources: ProcessSpec['resources']): string[] {
  const o: string[] = [];
  if (settings.partition) o.push(`--partition=${settings.partition}`);
  if (settings.account) o.push(`--account=${settings.account}`);
  const time = resources?.time ?? settings.time;
  if (time) o.push(`--time=${time}`);
  if (resources?.gpus) o.push(`--gres=gpu:${resources.gpus}`);
  if (resources?.cpus) o.push(`--cpus-per-task=${resources.cpus}`);
  if (resources?.memory) o.push(`--mem=${resources.memory}`);
  if (resources?.nodes) o.push(`--nodes=${resources.nodes}`);
  o.push(...(settings.extra ?? []));
  return o;
}

/** Executor options from the recipe (`executor: { type: slurm, partition, account, time, extra }`). */
export function slurmSettings(config: ExecutorConfig): SlurmSettings {
  const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  return {
    partition: str(config.partition),
    account: str(config.account),
    time: str(config.time),
    extra: Array.isArray(config.extra) ? config.extra.map(String) : undefined,
  };
}
