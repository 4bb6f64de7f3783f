"""Distributed training: the DeepSpeed config of `with.deepspeed` / `with.tp`, and
leaving the process group together."""

from __future__ import annotations

import json
from pathlib import Path

from .errors import UserError
from .packages import require_module

# The shipped ZeRO configs: package data, so they are part of every Python step's key.
CONFIGS = Path(__file__).resolve().parent / "configs"


def deepspeed_config(w: dict) -> dict | None:
    """The DeepSpeed config the Trainer gets, or None for a plain run. AutoTP (`tp` > 1)
    rides on DeepSpeed's `tensor_parallel` section, with ZeRO 0-2. sft.json's if/then rules
    refuse the same combinations at plan time; these checks remain for what the schema cannot
    see (the stage inside a deepspeed_config file) and for a script started by hand."""
    ds = w.get("deepspeed_config") or w.get("deepspeed")
    tp = w.get("tp") or 1
    if not ds and tp == 1:
        return None
    if not ds:
        raise UserError("with.tp: tensor parallelism runs through DeepSpeed AutoTP; set with.deepspeed: zero2")
    require_module("deepspeed", "with.deepspeed")
    use_cpu_accelerator()
    if ds in ("zero2", "zero3"):
        cfg = json.loads((CONFIGS / f"ds_{ds}.json").read_text())
    else:
        try:
            cfg = json.loads(Path(ds).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"with.deepspeed: cannot read DeepSpeed config {ds}: {e}") from None
    if tp > 1:
        stage = cfg.get("zero_optimization", {}).get("stage", 0)
        if stage > 2:
            raise UserError(f"with.tp: DeepSpeed AutoTP training works with ZeRO stages 0-2, not {stage} (with.deepspeed)")
        if w["finetuning"] != "full":
            raise UserError("with.tp: tensor parallelism is for finetuning: full")
        cfg["tensor_parallel"] = {"autotp_size": tp}
    zero = cfg.setdefault("zero_optimization", {})
    if zero.get("stage", 0) == 3 or tp > 1:
        # Without it the Trainer's save writes only a DeepSpeed checkpoint: ZeRO-3 shards and
        # AutoTP slices are gathered into a model folder only when this is set.
        zero.setdefault("stage3_gather_16bit_weights_on_model_save", True)
    return cfg


def use_cpu_accelerator() -> None:
    """DeepSpeed on a machine without CUDA: its CPU accelerator, over gloo. DeepSpeed would JIT-
    compile a shared-memory allreduce for it (minutes, and a C++ compiler); gloo's is enough."""
    import os

    import torch

    if torch.cuda.is_available():
        return
    os.environ.setdefault("DS_ACCELERATOR", "cpu")
    import deepspeed.ops

    # DeepSpeed's table of ops it may build; the comm backend builds the shm op only if listed.
    deepspeed.ops.__compatible_ops__["deepspeed_shm_comm"] = False


def leave_together() -> None:
    """Under a launcher, ranks leave together: a rank that exits while rank 0 still saves can
    make gloo/NCCL abort the group (seen as SIGABRT in a CPU torchrun run)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
