// Plan-time checks of GPU-only options and the launcher command lines.

import { afterEach, describe, expect, it } from 'vitest';
import { gpuPreflight } from '../src/python/gpu-rules.js';
import { launchArgs } from '../src/python/launch.js';
import { cudaPresent, localMachine } from '../src/scheduler/executors/local-machine.js';
import { slurmMachine } from '../src/scheduler/executors/slurm.js';
import { makeCtx, stepType } from './helpers/python.js';

const saved = process.env.FLOW_ASSUME_GPU;
afterEach(() => {
  if (saved === undefined) delete process.env.FLOW_ASSUME_GPU;
  else process.env.FLOW_ASSUME_GPU = saved;
});

describe('GPU preflight', () => {
  it('names the step and the option for each GPU-only request on a machine without CUDA', async () => {
    process.env.FLOW_ASSUME_GPU = '0';
    const sft = stepType('python:sft');
    const errors = await sft.preflight!({
      model: 'm', train_file: 't', finetuning: 'qlora', deepspeed: 'zero2', tp: 2, bf16: true, fp16: true,
      launcher: { type: 'deepspeed', nproc_per_node: 2 },
    }, localMachine());
    expect(errors).toHaveLength(1);
    expect(errors[0]!.field).toBe('fp16');
    expect(errors[0]!.message).toMatch(/^python:sft: fp16: true needs a CUDA GPU/);
    expect(errors[0]!.message).toMatch(/FLOW_ASSUME_GPU=1/);
  });

  it('lets CPU-capable settings through', async () => {
    process.env.FLOW_ASSUME_GPU = '0';
    expect(await stepType('python:sft').preflight!({ model: 'm', train_file: 't', finetuning: 'lora', tp: 1, bf16: false }, localMachine())).toEqual([]);
    // What the libraries run on CPU: QLoRA (bitsandbytes' CPU backend), DeepSpeed ZeRO over gloo
    // (its launcher too), AutoTP on CPU ranks, bf16 autocast.
    expect(await stepType('python:sft').preflight!({
      model: 'm', train_file: 't', finetuning: 'qlora', deepspeed: 'zero3', bf16: true, launcher: { type: 'deepspeed', nproc_per_node: 2 },
    }, localMachine())).toEqual([]);
    expect(await stepType('python:sft').preflight!({ model: 'm', train_file: 't', finetuning: 'full', deepspeed: 'zero2', tp: 2 }, localMachine())).toEqual([]);
    expect(await stepType('python:sft').preflight!({ model: 'm', train_file: 't', finetuning: 'full', launcher: { type: 'torchrun', nproc_per_node: 2 } }, localMachine())).toEqual([]);
    expect(await stepType('python:predict').preflight!({ model: 'm', dev_file: 'd', engine: 'hf' }, localMachine())).toEqual([]);
    expect(await stepType('python:predict').preflight!({ model: 'm', dev_file: 'd', engine: 'vllm' }, localMachine())).toEqual([
      { field: 'engine', message: expect.stringMatching(/^python:predict: engine: vllm needs a CUDA GPU/) },
    ]);
  });

  it('trusts FLOW_ASSUME_GPU=1 on a GPU machine', () => {
    expect(cudaPresent({ FLOW_ASSUME_GPU: '1' })).toBe(true);
    expect(cudaPresent({ FLOW_ASSUME_GPU: '0' })).toBe(false);
    expect(gpuPreflight('python:sft', [{ field: 'finetuning', in: ['qlora'], why: 'x' }], { finetuning: 'qlora' }, localMachine({ FLOW_ASSUME_GPU: '1' }))).toEqual([]);
  });
});

describe('GPU preflight asks the step\'s executor', () => {
  it('a Slurm step is judged by the GPUs its job asks for, not by the machine flow runs on', async () => {
    process.env.FLOW_ASSUME_GPU = '0';
    const predict = stepType('python:predict');
    const vllm = { model: 'm', dev_file: 'd', engine: 'vllm', tp: 2 };
    expect(await predict.preflight!(vllm, slurmMachine({ gpus: 2 }))).toEqual([]);
    expect(await predict.preflight!(vllm, slurmMachine({ gpus: 0 }))).toEqual([
      { field: 'engine', message: 'python:predict: engine: vllm needs a CUDA GPU (vLLM serves on CUDA GPUs), and its Slurm job asks for no GPU (set resources.gpus)' },
      { field: 'tp', message: expect.stringMatching(/^python:predict: tp: 2 needs a CUDA GPU .*its Slurm job asks for no GPU/) },
    ]);
  });
});

describe('launchers', () => {
  it('runs the script directly, or through python -m of the real launcher', () => {
    expect(launchArgs('/s/sft.py', '/w/p.json', undefined, [])).toEqual(['/s/sft.py', '--params', '/w/p.json']);
    expect(launchArgs('/s/sft.py', '/w/p.json', { type: 'torchrun', nproc_per_node: 4 }, [0, 1, 2, 3])).toEqual([
      '-m', 'torch.distributed.run', '--nproc_per_node=4', '--nnodes=1', '--node_rank=0',
      '--master_addr=127.0.0.1', '--master_port=29500', '/s/sft.py', '--params', '/w/p.json',
    ]);
    const ds = launchArgs('/s/sft.py', '/w/p.json', { type: 'deepspeed', nproc_per_node: 2 }, [2, 3]);
    expect(ds.slice(0, 3)).toEqual(['-m', 'deepspeed.launcher.runner', '--include=localhost:2,3']);
    const acc = launchArgs('/s/sft.py', '/w/p.json', { type: 'accelerate', nproc_per_node: 2 }, []);
    expect(acc).toContain('--num_processes=2');
    expect(acc).toContain('--multi_gpu');
  });

  it('leaves torchrun\'s node count, rank and rendezvous address to the executor when resources.nodes > 1', () => {
    expect(launchArgs('/s/sft.py', '/w/p.json', { type: 'torchrun', nproc_per_node: 4, master_port: 29400, nnodes: 1 }, [], 2)).toEqual([
      '-m', 'torch.distributed.run', '--nproc_per_node=4', '--master_port=29400', '/s/sft.py', '--params', '/w/p.json',
    ]);
  });

  it('a torchrun step over 2 nodes on the local executor fails with one line saying why, before starting anything', async () => {
    const r = makeCtx(stepType('python:sft'), { model: '/nonexistent', train_file: '/nonexistent', launcher: { type: 'torchrun', nproc_per_node: 1 } }, { python: 'python3' });
    r.ctx.resources = { gpus: 0, nodes: 2 };
    await expect(stepType('python:sft').run(r.ctx)).rejects.toThrow(/needs 2 nodes \(resources\.nodes\), and the local executor runs on this machine only: run it with --executor slurm/);
    // Nothing ran: the one line of the log is flow's.
    expect(r.logs).toEqual([expect.stringMatching(/^flow: needs 2 nodes/)]);
  });
});
