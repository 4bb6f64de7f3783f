"""After a save, reload what was written and compare its logits with the in-memory model's
on two training examples: a distributed save that silently lost weights (a ZeRO-3 adapter of
empty tensors, an AutoTP run that wrote only a DeepSpeed checkpoint) fails the step here,
before the engine commits the artifact."""

from __future__ import annotations

from .channel import log
from .errors import CheckFailed
from .ranks import is_main_process


def tolerance(dtype) -> float:
    """Largest accepted |reloaded - in memory| relative to the logits' scale: fp32 round trips are
    exact up to kernel order; half precision keeps ~3 significant digits."""
    import torch

    return 1e-4 if dtype == torch.float32 else 2e-2


def compare(expected, actual, half: bool = False) -> tuple[bool, float]:
    """(within tolerance, relative max difference) of two logits tensors; `half`: the model computes
    in half precision even where its logits come out as float32 (QLoRA's bf16 compute under
    float32 norms and head, bf16 autocast)."""
    import torch

    if expected.shape != actual.shape:
        raise ValueError(f"logits of shape {tuple(actual.shape)}, the trained model's are {tuple(expected.shape)}")
    e, a = expected.float(), actual.float()
    scale = max(e.abs().max().item(), 1e-6)
    rel = (e - a).abs().max().item() / scale
    # The coarser of the two: under bf16 mixed precision the trained model's forward runs in
    # autocast and returns float32 (accelerate converts its outputs), the reloaded one in bf16.
    tol = max(tolerance(expected.dtype), tolerance(actual.dtype), tolerance(torch.bfloat16) if half else 0.0)
    return rel <= tol and bool(torch.isfinite(a).all()), rel


def logits_of(model, batch: dict, device):
    """Logits of `model` on `batch` (every rank calls this: ZeRO-3 and AutoTP forwards are collective),
    in the model's own dtype: compare() takes its tolerance from it (a bf16 model's logits cast to
    float32 first would be held to float32's)."""
    import torch

    was_training = model.training
    model.eval()
    inputs = {k: v.to(device) for k, v in batch.items()}
    with torch.no_grad():
        out = model(**inputs).logits.detach().cpu()
    model.train(was_training)
    return out


def gather_vocab_shards(logits, vocab_size: int, tp: int):
    """AutoTP splits lm_head over the vocabulary: each tensor-parallel rank holds a contiguous
    slice of the logits. The whole logits, in rank order, on every rank."""
    if tp <= 1 or logits.shape[-1] >= vocab_size:
        return logits
    import torch
    import torch.distributed as dist

    group = None
    try:
        from deepspeed.utils import groups

        group = groups.get_tensor_model_parallel_group()
    except Exception:  # noqa: BLE001 - no TP group registered: the TP ranks are the world
        group = None
    parts: list = [None] * dist.get_world_size(group)
    dist.all_gather_object(parts, logits, group=group)
    return torch.cat(parts, dim=-1)


def agree(message: str | None) -> str | None:
    """Rank 0's verdict, on every rank, so all ranks fail (or pass) together."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        box = [message]
        dist.broadcast_object_list(box, src=0)
        return box[0]
    return message


def check_reload(in_memory, batch: dict, device, reload, what: str, tp: int = 1, half: bool = False) -> None:
    """Fails with CheckFailed naming `what` when `reload()` (run on rank 0 only) does not
    reproduce the in-memory model's logits on `batch`."""
    expected = logits_of(in_memory, batch, device)
    expected = gather_vocab_shards(expected, in_memory.config.vocab_size, tp)
    message = None
    if is_main_process():
        try:
            # A plain load on one rank: with the Trainer's ZeRO-3 config still registered,
            # from_pretrained would partition the weights collectively, with the other ranks absent.
            from transformers.integrations.deepspeed import unset_hf_deepspeed_config

            unset_hf_deepspeed_config()
            reloaded = reload()
            actual = logits_of(reloaded, batch, next(reloaded.parameters()).device)
            ok, rel = compare(expected, actual, half)
            if ok:
                log(f"load check: the saved {what} reproduces the trained model's logits "
                    f"(max difference {rel:.2g} of their scale)")
            else:
                message = (f"load check: the saved {what} does not reproduce the trained model "
                           f"(max logit difference {rel:.3g} of the logits' scale on 2 training examples); "
                           "not committing it")
            del reloaded
        except Exception as e:  # noqa: BLE001 - any failure to load is the finding
            first = (str(e).strip().splitlines() or [""])[0]
            message = f"load check: the saved {what} cannot be loaded back: {type(e).__name__}: {first}"
    message = agree(message)
    if message:
        raise CheckFailed(message)
