// LLaMA-Factory as the benches run it: its own venv (it pins transformers <= 5.6, so it cannot share
// flow's env) and the launch line. Shared by bench/train.ts and bench/packing.ts.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
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

