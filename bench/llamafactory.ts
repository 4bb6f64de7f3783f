// LLaMA-Factory as the benches run it: its own venv (it pins transformers <= 5.6, so it cannot share
// flow's env) and the launch line. Shared by bench/train.ts and bench/packing.ts.

import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ROOT } from '../tests/helpers/tiny-seeds.js';

export const LF_VERSION = '0.9.5';
export const VENV = join(ROOT, 'bench', '.venv-llamafactory');

export function sh(file: string, args: string[], o: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(file, args, { cwd: o.cwd, env: { ...process.env, ...o.env }, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.status}\n${(r.stderr ?? '').slice(-4000)}`);
  return r.stdout;
}

/** `llamafactory-cli train CONFIG`, with an empty torchaudio module: LLaMA-Factory's multimodal
 * plugin imports torchaudio at start-up, and no torchaudio wheel loads beside torch 2.13's CPU
 * build. Text SFT never calls it. */
export const LF_LAUNCH = `
import importlib.machinery, sys, types
stub = types.ModuleType("torchaudio")
stub.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
sys.modules["torchaudio"] = stub
from llamafactory.cli import main
sys.argv = ["llamafactory-cli", "train", sys.argv[1]]
main()
`;

export function llamaFactoryVenv(): string {
  const cli = join(VENV, 'bin', 'llamafactory-cli');
  if (existsSync(cli)) return cli;
  console.error(`creating ${VENV} (llamafactory==${LF_VERSION} from PyPI)`);
  sh('python3', ['-m', 'venv', VENV]);
  sh(join(VENV, 'bin', 'pip'), ['install', '--no-input', 'torch==2.13.0', `llamafactory==${LF_VERSION}`]);
  // PyPI's torchvision / torchaudio wheels are built against the CUDA torch (and torchaudio's
  // newest, 2.11, against torch 2.11): beside the CPU wheel they fail to load and break
  // transformers' imports. Text SFT needs neither; see LF_LAUNCH for torchaudio.
  sh(join(VENV, 'bin', 'pip'), ['uninstall', '--yes', 'torchvision', 'torchaudio']);
  return cli;
}

/**
 * Writes a LoRA SFT config for `llamafactory-cli train` with the settings both benches hold equal
 * on flow's side (fp32, no gradient checkpointing, no saving, no evaluation split, seed 42), the
 * `spider` dataset of `dataDir`, and what each bench varies in `extra` (steps or epochs, the
 * schedule, packing). Every string is quoted: LLaMA-Factory reads YAML 1.1, where a bare `no` is
 * false (and its JSON config reader is broken in 0.9.5).
 */
export function writeLoraConfig(
  file: string,
  o: { model: string; dataDir: string; tokenized: string; out: string; cutoff: number; batch: number; lora: { rank: number; alpha: number; dropout: number; target_modules: string[] } },
  extra: Record<string, unknown>,
): void {
  writeFileSync(file, stringify({
    model_name_or_path: o.model, stage: 'sft', do_train: true, finetuning_type: 'lora',
    lora_rank: o.lora.rank, lora_alpha: o.lora.alpha, lora_dropout: o.lora.dropout, lora_target: o.lora.target_modules.join(','),
    dataset: 'spider', dataset_dir: o.dataDir, tokenized_path: o.tokenized, template: 'qwen', cutoff_len: o.cutoff,
    preprocessing_num_workers: 1, dataloader_num_workers: 0, output_dir: o.out, disable_gradient_checkpointing: true,
    save_strategy: 'no', plot_loss: false, report_to: 'none', disable_tqdm: true,
    per_device_train_batch_size: o.batch, gradient_accumulation_steps: 1, learning_rate: 0.0001, seed: 42, val_size: 0,
    ...extra,
  }, { defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' }));
}
