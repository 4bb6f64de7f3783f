"""Packing encoded examples into full-length rows, each example kept apart from the others.

A packed row is examples laid end to end with position ids that restart at 0 for each one and no
2D attention mask. transformers (5.x) reads restarting position ids as packed sequences: the
masking utilities (create_causal_mask's find_packed_sequence_indices) build a block-diagonal causal
mask for sdpa / eager / flex attention, and flash-attention turns them into varlen cu_seqlens; only
without a KV cache (use_cache off, as in training: with a cache the mask is a plain causal one). So no
token attends to another example, and each example sees the positions it would alone:
LLaMA-Factory's neat_packing, without a hand-made 4D mask. `check_kept_apart` verifies this on the
model actually trained, since an architecture whose code ignores packed position ids would
silently attend across examples.

The loss stays on response tokens: labels travel with their tokens, and each example's first label
is masked, the one the causal shift would otherwise ask the previous example's last token to
predict (never a target when the example is alone either).
"""

from __future__ import annotations

import bisect

from .errors import UserError
from .load_check import tolerance
from .prompting import IGNORE_INDEX


def pack(items: list[dict], capacity: int) -> list[list[dict]]:
    """Examples grouped into rows of at most `capacity` tokens: best-fit decreasing (longest first,
    each into the fullest row it still fits), deterministic, so a resumed run packs the same rows."""
    order = sorted(range(len(items)), key=lambda i: (-len(items[i]["input_ids"]), i))
    rows: list[list[int]] = []
    # (room left, row index), kept sorted: the first entry with enough room is the best fit.
    room: list[tuple[int, int]] = []
    for i in order:
        n = len(items[i]["input_ids"])
        if n > capacity:
            raise UserError(f"packing: an example of {n} tokens is longer than a packed row ({capacity})")
        at = bisect.bisect_left(room, (n, -1))
        if at == len(room):
            rows.append([i])
            bisect.insort(room, (capacity - n, len(rows) - 1))
        else:
            left, r = room.pop(at)
            rows[r].append(i)
            bisect.insort(room, (left - n, r))
    # Rows in the order of their first example, each row's examples in data order.
    return [[items[i] for i in sorted(r)] for r in sorted(rows, key=min)]


def singletons(items: list[dict]) -> list[list[dict]]:
    """Each example in a row of its own (eval data under a packed run)."""
    return [[x] for x in items]


class PackedCollator:
    """Rows of examples -> input_ids, labels and per-example position_ids (no attention_mask, which
    is what makes transformers treat the row as packed); rows of a batch are right-padded, the
    padding a block of its own with no loss. Counts real tokens and filled slots like Collator.

    `flat`: the batch's rows laid end to end as one row, with no padding at all (for attention that
    splits rows at the position-id restarts: PACKED_SDPA). `response_logits` (with flat): also the
    positions whose next token is a label (`logits_to_keep`) and those labels (`shift_labels`), so
    the model computes the LM head and the loss on those positions only instead of on every token
    of the row: the prompt's logits are never a target, and on a long packed row they are most of
    the head's and the loss's work. Same loss, same gradients (test_packing)."""

    def __init__(self, pad_id: int, flat: bool = False, response_logits: bool = False) -> None:
        self.pad_id = pad_id
        self.flat = flat
        self.response_logits = flat and response_logits
        self.tokens = 0
        self.slots = 0

    def __call__(self, rows: list[list[dict]]) -> dict:
        import torch

        ids, labels, positions = [], [], []
        for row in rows:
            i, lab, pos = [], [], []
            for x in row:
                i += x["input_ids"]
                lab += [IGNORE_INDEX] + x["labels"][1:]
                pos += list(range(len(x["input_ids"])))
            ids.append(i)
            labels.append(lab)
            positions.append(pos)
        if self.flat:
            ids, labels, positions = [sum(ids, [])], [sum(labels, [])], [sum(positions, [])]
        n = max(len(r) for r in ids)
        for i, lab, pos in zip(ids, labels, positions):
            pad = n - len(i)
            self.tokens += len(i)
            i += [self.pad_id] * pad
            lab += [IGNORE_INDEX] * pad
            pos += list(range(pad))
        self.slots += n * len(ids)
        out = {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels), "position_ids": torch.tensor(positions)}
        if self.response_logits:
            # The logits at t predict the token at t + 1 (the shift the model's loss would make).
            nxt = labels[0][1:] + [IGNORE_INDEX]
            keep = [t for t, y in enumerate(nxt) if y != IGNORE_INDEX]
            out["logits_to_keep"] = torch.tensor(keep, dtype=torch.long)
            out["shift_labels"] = torch.tensor([[nxt[t] for t in keep]])
        return out


def response_logits_work(model, items: list[dict], device) -> bool:
    """Whether this model computes the same loss from PackedCollator's response-only batch as from
    the whole row's logits: it must take `logits_to_keep` as positions and `shift_labels` in its loss
    (transformers' causal LMs do); one that does not trains on the whole row's logits instead."""
    import torch

    rows = [sorted(items[:8], key=lambda x: len(x["input_ids"]))[-2:]]
    if len(rows[0]) < 2:
        return False
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            whole = PackedCollator(0, flat=True)(rows)
            want = model(**{k: v.to(device) for k, v in whole.items()}).loss.float().cpu()
            kept = PackedCollator(0, flat=True, response_logits=True)(rows)
            got = model(**{k: v.to(device) for k, v in kept.items()}).loss.float().cpu()
    except (TypeError, ValueError, RuntimeError, IndexError):
        return False
    finally:
        model.train(was_training)
    return bool(torch.isfinite(want)) and abs(float(got - want)) <= 1e-4 * max(abs(float(want)), 1.0)


def check_kept_apart(model, items: list[dict], device) -> None:
    """Refuses packing (UserError) unless two examples packed in one row give the logits they give
    alone: a model or attention implementation that does not honour packed position ids would let
    the second attend to the first."""
    import torch

    pair = sorted(items[:8], key=lambda x: len(x["input_ids"]))[-2:]
    if len(pair) < 2:
        return
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            alone = [model(input_ids=torch.tensor([x["input_ids"]], device=device)).logits[0].float().cpu()
                     for x in pair]
            row = PackedCollator(0)([pair])
            raw = model(input_ids=row["input_ids"].to(device), position_ids=row["position_ids"].to(device)).logits[0]
            packed = raw.float().cpu()
    finally:
        model.train(was_training)
    n = len(pair[0]["input_ids"])
    scale = max(alone[1].abs().max().item(), 1e-6)
    diff = max((packed[:n] - alone[0]).abs().max().item(), (packed[n:] - alone[1]).abs().max().item()) / scale
    if diff > tolerance(raw.dtype):
        impl = getattr(getattr(model, "config", None), "_attn_implementation", "?")
        arch = getattr(getattr(model, "config", None), "model_type", "?")
        raise UserError(f"with.packing: this model ({arch}, attention {impl}) does not keep packed examples apart "
                        f"(a packed example's logits differ from its own by {diff:.3g} of their scale); "
                        "use group_by_length instead")


# The attention implementation packed rows train with on sdpa / eager models. transformers' own
# route for packed position ids there is a block-diagonal mask over the whole row: every row pays
# for L x L attention although each example needs only its own l x l, which on a long packed row
# costs more than the padding packing saved. This one splits each row at its position-id restarts
# and runs causal sdpa per example (what flash-attention's varlen kernels do on a GPU); any other
# batch (padded, or generation with a cache) goes to transformers' sdpa unchanged.
PACKED_SDPA = "flow_packed_sdpa"


def segments(position_ids) -> list[list[tuple[int, int]]]:
    """[(start, end)] of each example in each row: a new one wherever a position is not the previous + 1."""
    import torch

    starts = torch.ones_like(position_ids, dtype=torch.bool)
    starts[:, 1:] = position_ids[:, 1:] != position_ids[:, :-1] + 1
    out = []
    n = position_ids.shape[1]
    for row in starts:
        s = row.nonzero().flatten().tolist()
        out.append(list(zip(s, s[1:] + [n])))
    return out


def packed_sdpa(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, position_ids=None, **kw):
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward

    rows = segments(position_ids) if position_ids is not None and query.shape[2] == key.shape[2] else None
    if rows is None or all(len(r) == 1 for r in rows):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      position_ids=position_ids, **kw)
    groups = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups), repeat_kv(value, groups)
    # Rows unbound and split into examples, the outputs concatenated: the backward of each is one
    # concatenation, where slicing or writing into one buffer would zero-fill a whole-batch gradient
    # per example.
    sdpa = torch.nn.functional.scaled_dot_product_attention
    out = []
    for q, k, v, row in zip(query.unbind(0), key.unbind(0), value.unbind(0), rows):
        sizes = [e - s for s, e in row]
        out.append(torch.cat([sdpa(a[None], b[None], c[None], is_causal=True, dropout_p=dropout, scale=scaling)[0]
                              for a, b, c in zip(q.split(sizes, 1), k.split(sizes, 1), v.split(sizes, 1))], dim=1))
    out = torch.stack(out)
    return out.transpose(1, 2).contiguous(), None


def packed_mask(*args, attention_mask=None, **kw):
    """The mask PACKED_SDPA's batches get: none where there is no padding mask (packed rows, whose
    examples packed_sdpa keeps apart by itself, and unpadded batches, causal by sdpa's own flag),
    saving the L x L mask transformers would build per row; sdpa's mask for a padded batch."""
    from transformers.masking_utils import sdpa_mask

    if attention_mask is None:
        return None
    return sdpa_mask(*args, attention_mask=attention_mask, **kw)


def use_packed_sdpa(model) -> bool:
    """Switches an sdpa / eager model with full attention in every layer to PACKED_SDPA (registered on
    first use); False, and nothing changed, otherwise (flash-attention has its own varlen path)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    if getattr(model.config, "_attn_implementation", None) not in ("sdpa", "eager"):
        return False
    # Sliding-window layers need their window inside each example too: left to transformers' mask.
    if any(t != "full_attention" for t in (getattr(model.config, "layer_types", None) or [])):
        return False
    AttentionInterface.register(PACKED_SDPA, packed_sdpa)
    if PACKED_SDPA not in ALL_MASK_ATTENTION_FUNCTIONS:
        AttentionMaskInterface.register(PACKED_SDPA, packed_mask)
    model.set_attn_implementation(PACKED_SDPA)
    return True
