"""QLoRA on each CPU path bitsandbytes can take, through sft.run itself with an eval split.

bitsandbytes picks the path per layer from has_avx512bf16() when the layer is built: with it, a
forward in eval mode without grad (the Trainer's evaluation) repacks the 4-bit weight for an
inference kernel with no autograd. The tests force each answer in the library's own module, so both
paths run on any CPU, for a layer with a bias (Qwen2) and without (Llama, as Qwen3)."""

import json
from pathlib import Path

import bitsandbytes.nn.modules as bnb_modules
import pytest
from bitsandbytes.functional import has_avx512bf16
from bitsandbytes.nn import Linear4bit

import sft
from flow_runtime import modeling
from flow_runtime.errors import CheckFailed
from flow_runtime.params import Params, _apply_defaults, load_manifest

# Trains QLoRA on tiny models (four legs), minutes on 2 cores.
pytestmark = pytest.mark.slow

FIX = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    tok = AutoTokenizer.from_pretrained(FIX / "bpe")
    common = dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                  num_attention_heads=4, num_key_value_heads=2, eos_token_id=tok.eos_token_id,
                  pad_token_id=tok.eos_token_id)
    out = {}
    for arch, cls, cfg in [("qwen2", Qwen2ForCausalLM, Qwen2Config(**common)),  # q/k/v with a bias
                           ("llama", LlamaForCausalLM, LlamaConfig(**common))]:  # no bias anywhere
        torch.manual_seed(0)
        folder = tmp_path_factory.mktemp(arch)
        cls(cfg).save_pretrained(folder)
        tok.save_pretrained(folder)
        out[arch] = folder
    return out


@pytest.fixture(scope="module")
def train_file(tmp_path_factory):
    base = json.loads((FIX / "template_records.json").read_text(encoding="utf-8"))
    records = []
    for i in range(12):
        r = dict(base[i % len(base)])
        r["input"] = r["input"].replace("?", f" (case {i})?")
        r["output"] = f"{r['output']} LIMIT {i + 1}"
        records.append(r)
    f = tmp_path_factory.mktemp("data") / "train.json"
    f.write_text(json.dumps(records), encoding="utf-8")
    return f


def run_sft(tmp: Path, model: Path, train_file: Path, **w) -> Path:
    with_ = _apply_defaults(load_manifest("sft")["schema"], {
        "model": str(model), "train_file": str(train_file), "finetuning": "qlora", "template": "qwen",
        "qlora": {"compute_dtype": "float32"}, "val_size": 4, "eval_steps": 1, "logging_steps": 1,
        "max_steps": 3, "batch_size": 4, "learning_rate": 0.01, "max_source_length": 128,
        "max_target_length": 32, **w})
    outputs = {n: str(tmp / p) for n, p in {**load_manifest("sft")["outputs"], "adapter": "adapter"}.items()}
    sft.run(Params("sft", with_, outputs, str(tmp), str(tmp / "checkpoints")))
    return tmp


def force_cpu_path(monkeypatch, avx512bf16: bool) -> list[bool]:
    """Makes bitsandbytes build its layers as on a CPU with (or without) AVX512-BF16, and records the
    flag each 4-bit layer had before flow's load touched it."""
    monkeypatch.setattr(bnb_modules, "has_avx512bf16", lambda: avx512bf16)
    seen: list[bool] = []
    original = modeling.keep_4bit_trainable

    def spy(model):
        seen.extend(m.support_avx512bf16_for_cpu for m in model.modules() if isinstance(m, Linear4bit))
        original(model)
        assert not any(getattr(m.weight.quant_state, "packing_format_for_cpu", False)
                       for m in model.modules() if isinstance(m, Linear4bit))

    monkeypatch.setattr(modeling, "keep_4bit_trainable", spy)
    return seen


@pytest.mark.parametrize("avx512bf16", [True, False], ids=["avx512bf16", "no-avx512bf16"])
@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_qlora_trains_through_its_evaluations(monkeypatch, tmp_path, models, train_file, arch, avx512bf16):
    seen = force_cpu_path(monkeypatch, avx512bf16)
    out = run_sft(tmp_path, models[arch], train_file)
    assert seen and all(flag == avx512bf16 for flag in seen)  # the path was the one forced
    history = json.loads((out / "loss_history.json").read_text(encoding="utf-8"))
    evals = [h["eval_loss"] for h in history if "eval_loss" in h]
    # An evaluation after every step: had one frozen the layers, the later ones would repeat it.
    assert len(evals) == 3 and len(set(evals)) == 3
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.skipif(not has_avx512bf16(), reason="the repack's kernel is built only on a CPU with AVX512-BF16")
@pytest.mark.parametrize("arch", ["qwen2", "llama"])
def test_without_the_fix_the_guard_stops_the_step_before_it_saves(monkeypatch, tmp_path, models, train_file, arch):
    """What flow did before keep_4bit_trainable: step 1 trains, the evaluation after it repacks the
    layers, and from step 2 no gradient flows (a layer with a bias may instead fail in backward, as
    the Qwen2 model of tests/python-distributed.test.ts did). The no-learning guard stops the step
    before it saves the untrained adapter."""
    monkeypatch.setattr(modeling, "keep_4bit_trainable", lambda model: None)
    # load_check off: the guard, not the reload comparison, must be what stops the save.
    with pytest.raises(CheckFailed, match=r"gradient norm was 0 at steps 2, 3 with the loss at 5\.\d+"):
        run_sft(tmp_path, models[arch], train_file, load_check=False)
    assert not (tmp_path / "adapter").exists()
