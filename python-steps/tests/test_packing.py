import pytest
import torch

from flow_runtime.data import Collator
from flow_runtime.errors import UserError
from flow_runtime.packing import PACKED_SDPA, PackedCollator, check_kept_apart, pack, response_logits_work, segments, use_packed_sdpa


def tiny(attn: str, arch: str = "qwen2", use_cache: bool = False):
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(arch, vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                               use_cache=use_cache)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, attn_implementation="sdpa" if attn == PACKED_SDPA else attn).eval()
    if attn == PACKED_SDPA:
        assert use_packed_sdpa(model)
    return model


def examples(lengths, prompt=3):
    g = torch.Generator().manual_seed(1)
    out = []
    for n in lengths:
        ids = torch.randint(1, 97, (n,), generator=g).tolist()
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


def per_example_losses(logits, labels):
    """Summed token losses of each labelled span, in order (labels shifted as the model's loss does)."""
    lp = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(),
                                           ignore_index=-100, reduction="none").view(labels.shape[0], -1)
    return lp, labels[:, 1:] != -100


def test_pack_fills_rows_best_fit_and_keeps_every_example_once():
    items = examples([9, 7, 5, 4, 3, 2])
    rows = pack(items, capacity=12)
    assert sorted(id(x) for r in rows for x in r) == sorted(id(x) for x in items)
    assert all(sum(len(x["input_ids"]) for x in r) <= 12 for r in rows)
    assert len(rows) == 3  # 30 tokens in rows of 12: 9+3, 7+5, 4+2
    assert pack(items, 12) == rows  # deterministic (resume packs the same rows)
    with pytest.raises(UserError, match="longer than a packed row"):
        pack(items, capacity=8)


def test_packed_collator_restarts_positions_and_masks_each_first_label():
    c = PackedCollator(pad_id=0)
    out = c([[{"input_ids": [5, 6], "labels": [5, 6]}, {"input_ids": [7, 8, 9], "labels": [-100, 8, 9]}],
             [{"input_ids": [4], "labels": [4]}]])
    assert out["input_ids"].tolist() == [[5, 6, 7, 8, 9], [4, 0, 0, 0, 0]]
    assert out["position_ids"].tolist() == [[0, 1, 0, 1, 2], [0, 0, 1, 2, 3]]
    assert out["labels"].tolist() == [[-100, 6, -100, 8, 9], [-100, -100, -100, -100, -100]]
    assert "attention_mask" not in out
    assert (c.tokens, c.slots) == (6, 10)


def test_flat_collator_lays_rows_end_to_end_and_keeps_the_response_positions():
    c = PackedCollator(pad_id=0, flat=True, response_logits=True)
    out = c([[{"input_ids": [5, 6], "labels": [5, 6]}, {"input_ids": [7, 8, 9], "labels": [-100, 8, 9]}],
             [{"input_ids": [4, 3], "labels": [-100, 3]}]])
    assert out["input_ids"].tolist() == [[5, 6, 7, 8, 9, 4, 3]]
    assert out["position_ids"].tolist() == [[0, 1, 0, 1, 2, 0, 1]]
    assert out["labels"].tolist() == [[-100, 6, -100, 8, 9, -100, 3]]
    # The logits at t are scored against the label at t + 1.
    assert out["logits_to_keep"].tolist() == [0, 2, 3, 5]
    assert out["shift_labels"].tolist() == [[6, 8, 9, 3]]
    assert (c.tokens, c.slots) == (7, 7)  # no padding at all


@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_response_only_logits_give_the_padded_batch_loss_and_gradients(arch):
    """What training sees with packing on sdpa models: one unpadded row, the LM head and the loss on
    the response positions only, against a padded batch's mean token loss, value and gradients."""
    model = tiny(PACKED_SDPA, arch).train()
    items = examples([11, 5, 8, 3, 9])
    padded = Collator(0)(items)
    flat = PackedCollator(0, flat=True, response_logits=True)(pack(items, capacity=16))
    assert flat["logits_to_keep"].numel() == sum(len(x["input_ids"]) - 3 for x in items)
    losses, grads = [], []
    for batch in (padded, flat):
        model.zero_grad()
        loss = model(**batch).loss
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    # The kept logits are really fewer: a forward without them returns every position's.
    assert model(**{k: flat[k] for k in ("input_ids", "position_ids")}).logits.shape[1] == flat["input_ids"].shape[1]
    assert model(**flat).logits.shape[1] == flat["logits_to_keep"].numel()
    torch.testing.assert_close(losses[0], losses[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_response_logits_are_only_used_where_the_model_scores_them():
    items = examples([6, 9, 4])
    assert response_logits_work(tiny(PACKED_SDPA), items, "cpu")

    class NoShiftLabels(torch.nn.Module):
        """A causal LM that keeps the logits asked for but computes its loss from `labels` only."""

        def __init__(self):
            super().__init__()
            self.inner = tiny(PACKED_SDPA)

        def forward(self, shift_labels=None, **kw):
            return self.inner(**kw)

    assert not response_logits_work(NoShiftLabels(), items, "cpu")


@pytest.mark.parametrize("attn", ["sdpa", "eager", PACKED_SDPA])
@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_packed_and_padded_batches_give_the_same_per_example_losses(attn, arch):
    model = tiny(attn, arch)
    items = examples([11, 5, 8, 3])
    padded = Collator(0)(items)
    packed = PackedCollator(0)(pack(items, capacity=16))
    with torch.no_grad():
        a = model(input_ids=padded["input_ids"], attention_mask=padded["attention_mask"]).logits
        b = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"]).logits
    la, ma = per_example_losses(a, padded["labels"])
    lb, mb = per_example_losses(b, packed["labels"])
    assert int(ma.sum()) == int(mb.sum()) == sum(len(x["input_ids"]) - 3 for x in items)
    # Example by example: the padded batch's rows, the packed rows' labelled tokens in pack order.
    want = {tuple(x["input_ids"]): la[i][ma[i]] for i, x in enumerate(items)}
    for r, row in enumerate(pack(items, capacity=16)):
        got = lb[r][mb[r]]
        at = 0
        for x in row:
            n = len(x["input_ids"]) - 3
            torch.testing.assert_close(got[at:at + n], want[tuple(x["input_ids"])], rtol=1e-5, atol=1e-5)
            at += n
    # Gradients too (what training sees): the packed rows' summed loss against the padded batch's.
    if attn == PACKED_SDPA:
        grads = []
        for batch in ({k: padded[k] for k in ("input_ids", "attention_mask")},
                      {k: packed[k] for k in ("input_ids", "position_ids")}):
            model.zero_grad()
            labels = padded["labels"] if "attention_mask" in batch else packed["labels"]
            lp, m = per_example_losses(model(**batch).logits, labels)
            lp[m].sum().backward()
            grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        torch.testing.assert_close(grads[0], grads[1], rtol=1e-4, atol=1e-6)
    # The same rows with positions running on across examples: the examples are no longer apart.
    with torch.no_grad():
        leaky = model(input_ids=packed["input_ids"]).logits
    assert not torch.allclose(per_example_losses(leaky, packed["labels"])[0][mb], lb[mb], atol=1e-3)


def test_check_kept_apart_passes_a_packing_model_and_refuses_one_that_leaks():
    items = examples([6, 9, 4])
    check_kept_apart(tiny("sdpa"), items, "cpu")

    # With the KV cache on (a config's default), transformers builds a plain causal mask: the second
    # example attends to the first. sft turns the cache off; the check is what catches it if not.
    with pytest.raises(UserError, match="with.packing: .*does not keep packed examples apart"):
        check_kept_apart(tiny("sdpa", use_cache=True), items, "cpu")


def test_packing_leaves_less_padding_than_padded_batches():
    items = examples([40, 7, 33, 12, 25, 9, 38, 15, 20, 5, 30, 11])
    padded = Collator(0)
    for i in range(0, len(items), 4):
        padded(items[i:i + 4])
    packed = PackedCollator(0)
    rows = pack(items, capacity=48)
    for i in range(0, len(rows), 4):
        packed(rows[i:i + 4])
    assert packed.tokens == padded.tokens == sum(len(x["input_ids"]) for x in items)
    assert 1 - packed.tokens / packed.slots < 0.5 * (1 - padded.tokens / padded.slots)


def test_segments_split_rows_where_positions_restart():
    pos = torch.tensor([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5]])
    assert segments(pos) == [[(0, 3), (3, 5), (5, 6)], [(0, 6)]]


def test_packed_sdpa_is_only_taken_for_sdpa_and_eager_models():
    model = tiny("sdpa")
    assert use_packed_sdpa(model) and model.config._attn_implementation == PACKED_SDPA
    other = tiny("eager")
    other.config._attn_implementation = "flash_attention_2"  # as set by a CUDA run; never called here
    assert not use_packed_sdpa(other) and other.config._attn_implementation == "flash_attention_2"
