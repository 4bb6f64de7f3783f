import json

import pytest
import torch

from flow_runtime.data import Collator, read_records
from flow_runtime.distributed import deepspeed_config
from flow_runtime.errors import UserError
from flow_runtime.modeling import dtype_of
from flow_runtime.training import latest_checkpoint


def test_latest_checkpoint_skips_folders_that_died_mid_save(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    for step, complete in [(5, True), (10, True), (15, False)]:
        d = tmp_path / f"checkpoint-{step}"
        d.mkdir()
        if complete:
            (d / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-final").mkdir()
    (tmp_path / "checkpoint-final" / "trainer_state.json").write_text("{}")
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-10"
    # Numeric, not lexical: 100 is newer than 20.
    for step in (20, 100):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint-100"


def test_dtype_of():
    assert dtype_of("bfloat16") is torch.bfloat16
    assert dtype_of("float16") is torch.float16
    assert dtype_of("float32") is torch.float32
    assert dtype_of("auto") == "auto"


def test_collator_pads_right_and_masks_labels():
    c = Collator(pad_id=0)
    out = c([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7]}, {"input_ids": [8], "labels": [8]}])
    assert out["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert out["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert out["labels"].tolist() == [[-100, 6, 7], [8, -100, -100]]
    assert c.tokens == 4


def test_collator_seq2seq_labels_pad_to_their_own_length():
    out = Collator(pad_id=0)([{"input_ids": [1, 2, 3], "labels": [4], "decoder": True},
                              {"input_ids": [1], "labels": [4, 5], "decoder": True}])
    assert out["labels"].tolist() == [[4, -100], [4, 5]]


def test_read_records_errors_name_the_field(tmp_path):
    f = tmp_path / "r.json"
    # Not an array: read as JSON Lines, whose one record is no known format.
    f.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(UserError, match=r"with.train_file: .*r.json: line 1: neither alpaca"):
        read_records(str(f), "train_file")
    f.write_text(json.dumps([{"instruction": 3}]))
    with pytest.raises(UserError, match="record 0: field 'instruction': expected a string, got int"):
        read_records(str(f), "train_file")
    with pytest.raises(UserError, match="cannot read"):
        read_records(str(tmp_path / "missing.json"), "dev_file")


def base(**kw):
    return {"finetuning": "full", "tp": 1, **kw}


def test_deepspeed_config_shipped_and_autotp():
    assert deepspeed_config(base()) is None
    z3 = deepspeed_config(base(deepspeed="zero3"))
    assert z3["zero_optimization"]["stage"] == 3
    tp = deepspeed_config(base(deepspeed="zero2", tp=2))
    assert tp["tensor_parallel"] == {"autotp_size": 2}


def test_deepspeed_config_refusals(tmp_path):
    with pytest.raises(UserError, match="set with.deepspeed: zero2"):
        deepspeed_config(base(tp=2))
    with pytest.raises(UserError, match="ZeRO stages 0-2, not 3"):
        deepspeed_config(base(deepspeed="zero3", tp=2))
    with pytest.raises(UserError, match="finetuning: full"):
        deepspeed_config(base(deepspeed="zero2", tp=2, finetuning="lora"))
    with pytest.raises(UserError, match="cannot read DeepSpeed config"):
        deepspeed_config(base(deepspeed_config=str(tmp_path / "nope.json")))


def test_deepspeed_saves_gather_weights_under_zero3_and_autotp():
    assert deepspeed_config(base(deepspeed="zero3"))["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]
    assert deepspeed_config(base(deepspeed="zero2", tp=2))["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]
    assert "stage3_gather_16bit_weights_on_model_save" not in deepspeed_config(base(deepspeed="zero2"))["zero_optimization"]


def test_held_out_count_fraction_or_count():
    from sft import held_out_count

    assert held_out_count(0, 50) == 0
    assert held_out_count(0.1, 56) == 6
    assert held_out_count(4, 56) == 4


def test_load_check_compare():
    from flow_runtime.load_check import compare

    a = torch.tensor([[1.0, -2.0, 3.0]])
    assert compare(a, a.clone()) == (True, 0.0)
    ok, rel = compare(a, a + 0.01)
    assert not ok and abs(rel - 0.01 / 3) < 1e-6
    # Half precision keeps ~3 digits.
    assert compare(a.bfloat16(), (a + 0.01).bfloat16())[0]
    with pytest.raises(ValueError, match="shape"):
        compare(a, torch.zeros(1, 2))


def test_load_check_logits_keep_the_model_dtype():
    # A bf16 model (the seed recipes train with bf16: true) is judged with bf16's tolerance:
    # its logits must reach compare() as bf16, not cast to float32.
    from types import SimpleNamespace

    from flow_runtime.load_check import compare, logits_of

    class Tiny(torch.nn.Module):
        def __init__(self, dtype):
            super().__init__()
            self.lin = torch.nn.Linear(3, 4).to(dtype)

        def forward(self, input_ids):
            return SimpleNamespace(logits=self.lin(input_ids.to(self.lin.weight.dtype)))

    batch = {"input_ids": torch.tensor([[1.0, 2.0, 3.0]])}
    m = Tiny(torch.bfloat16)
    m.train()
    out = logits_of(m, batch, "cpu")
    assert out.dtype == torch.bfloat16 and m.training
    assert logits_of(Tiny(torch.float32), batch, "cpu").dtype == torch.float32
    # bf16 rounding between two runs of the same weights passes; a real change does not.
    assert compare(out, out.float().mul(1.004).bfloat16())[0]
    assert not compare(out, out.float().add(1.0).bfloat16())[0]
    # A bf16-autocast forward returns float32; the reloaded bf16 model's logits set the tolerance.
    assert compare(out.float(), out.float().mul(1.004).bfloat16())[0]
    assert not compare(out.float(), out.float().mul(1.004))[0]
    # QLoRA with bf16 compute: float32 logits (its head and norms stay float32), bf16 inside.
    assert compare(out.float(), out.float().mul(1.004), half=True)[0]
    assert not compare(out.float(), out.float().add(1.0), half=True)[0]


def test_computes_in_half():
    from flow_runtime.modeling import computes_in_half

    base = {"bf16": False, "fp16": False, "finetuning": "lora", "qlora": {"compute_dtype": "bfloat16"}}
    assert not computes_in_half(base)
    assert computes_in_half(base | {"bf16": True})
    assert computes_in_half(base | {"finetuning": "qlora"})
    assert not computes_in_half(base | {"finetuning": "qlora", "qlora": {"compute_dtype": "float32"}})


def test_no_learning_guard_stops_zero_gradients_in_a_row_but_not_a_memorised_batch():
    from flow_runtime.errors import CheckFailed
    from flow_runtime.training import NoLearningGuard

    g = NoLearningGuard(in_a_row=2)
    g.logged(1, {"loss": 6.0, "grad_norm": 0.3})
    g.logged(2, {"loss": 5.9, "grad_norm": 0.0})
    g.logged(3, {"loss": 5.8, "grad_norm": 0.1})  # a zero between non-zero ones: not in a row
    g.logged(4, {"loss": 5.8, "grad_norm": 0.0})
    with pytest.raises(CheckFailed, match=r"gradient norm was 0 at steps 4, 5 with the loss at 5\.8"):
        g.logged(5, {"loss": 5.8, "grad_norm": 0.0})
    # A loss of exactly 0 has no gradient to give; a log without grad_norm is not judged.
    g = NoLearningGuard(in_a_row=2)
    for step in (1, 2, 3):
        g.logged(step, {"loss": 0.0, "grad_norm": 0.0})
        g.logged(step, {"loss": 4.0})
    g.at_end()
    # A run shorter than the streak is judged on all its logs when it ends.
    g = NoLearningGuard(in_a_row=3)
    g.logged(1, {"loss": 6.0, "grad_norm": 0.0})
    with pytest.raises(CheckFailed, match="at steps 1 "):
        g.at_end()
    g = NoLearningGuard(in_a_row=3)
    g.logged(1, {"loss": 6.0, "grad_norm": 0.2})
    g.logged(2, {"loss": 6.0, "grad_norm": 0.0})
    g.at_end()
