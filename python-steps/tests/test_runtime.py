import json
import os

import pytest

from flow_runtime import channel, files, gpu_rules, packages, params, ranks
from flow_runtime.errors import UserError
from flow_runtime.params import Params, _apply_defaults, checkpoint_dir, validate


def test_defaults_fill_nested_objects_without_touching_given_values():
    schema = {"type": "object", "properties": {
        "a": {"type": "integer", "default": 1},
        "lora": {"type": "object", "default": {}, "properties": {"rank": {"default": 8}, "alpha": {"default": 16}}},
    }}
    assert _apply_defaults(schema, {"lora": {"rank": 4}}) == {"a": 1, "lora": {"rank": 4, "alpha": 16}}
    assert _apply_defaults(schema, {}) == {"a": 1, "lora": {"rank": 8, "alpha": 16}}


def test_defaults_are_copies():
    schema = {"type": "object", "properties": {"xs": {"type": "array", "default": []}}}
    first = _apply_defaults(schema, {})
    first["xs"].append(1)
    assert _apply_defaults(schema, {}) == {"xs": []}


def test_validate_sft_defaults_and_errors_name_the_field(tmp_path):
    w = validate("sft", "p.json", {"model": "m", "train_file": "t.json"})
    assert w["finetuning"] == "lora" and w["lora"]["rank"] == 8 and w["qlora"]["quant_type"] == "nf4"
    with pytest.raises(UserError) as e:
        validate("sft", "p.json", {"model": "m", "train_file": "t", "lora": {"rank": 0}})
    assert str(e.value).startswith("p.json: with.lora.rank:")
    with pytest.raises(UserError, match="with.finetuning"):
        validate("sft", "p.json", {"model": "m", "train_file": "t", "finetuning": "qlorra"})


def test_checkpoint_dir_is_the_one_the_engine_hands_over(tmp_path):
    # The engine owns the cache layout: it passes <cache>/checkpoints/<key> in the params file.
    handed = tmp_path / "cache" / "checkpoints" / "abc"
    assert checkpoint_dir(Params("sft", {}, {}, str(tmp_path / "work"), str(handed))) == handed
    # Without one (a step run by hand), checkpoints stay in the work dir.
    assert checkpoint_dir(Params("sft", {}, {}, str(tmp_path / "work"))) == tmp_path / "work" / "checkpoints"


def test_output_creates_parent_and_refuses_unknown(tmp_path):
    p = Params("sft", {}, {"model": str(tmp_path / "a" / "model")}, str(tmp_path))
    assert p.output("model").parent.is_dir()
    with pytest.raises(UserError, match="output 'adapter'"):
        p.output("adapter")


def test_only_rank_zero_reports(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert not ranks.is_main_process()
    monkeypatch.setenv("RANK", "0")
    assert ranks.is_main_process()
    monkeypatch.delenv("RANK")
    monkeypatch.setenv("LOCAL_RANK", "2")
    assert not ranks.is_main_process()


def test_events_go_to_the_file_channel(tmp_path, monkeypatch):
    f = tmp_path / "ev.jsonl"
    monkeypatch.delenv("FLOW_EVENTS_FD", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setenv("FLOW_EVENTS_FILE", str(f))
    ev = channel.Events()
    ev.progress(3, 10, "step", loss=1.5, lr=None)
    ev.metric("train_loss", 2)
    lines = [json.loads(line) for line in f.read_text().splitlines()]
    assert lines[0]["type"] == "progress" and lines[0]["values"] == {"loss": 1.5}
    assert lines[1] == {**lines[1], "type": "metric", "name": "train_loss", "value": 2.0}


def test_write_json_replaces_atomically(tmp_path):
    target = tmp_path / "d" / "m.json"
    files.write_json(target, {"a": 1})
    assert json.loads(target.read_text()) == {"a": 1}
    assert not any(n.endswith(".tmp") for n in os.listdir(target.parent))


def test_gpu_rules_come_from_the_manifest_and_spare_cpu_capable_options():
    rules = params.load_manifest("sft")["gpu_options"]
    hit = lambda w: [(r["field"], v) for r, v in gpu_rules.gpu_rules_hit(rules, w)]  # noqa: E731
    assert hit({"finetuning": "qlora", "deepspeed": "zero3", "tp": 2, "bf16": False, "fp16": False}) == []
    assert hit({"fp16": True, "launcher": {"type": "deepspeed"}}) == [("fp16", True)]
    bf16 = gpu_rules.gpu_rules_hit(rules, {"bf16": True})
    assert bf16[0][0]["cpu_ok"] and bf16[0][0]["capability"] == 8.0


def test_check_gpu_rules_refuses_fp16_without_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    rules = params.load_manifest("sft")["gpu_options"]
    gpu_rules.check_gpu_rules(rules, {"bf16": True, "finetuning": "qlora"})
    with pytest.raises(UserError, match=r"^with\.fp16: true needs a CUDA GPU"):
        gpu_rules.check_gpu_rules(rules, {"fp16": True})


def test_require_module_names_the_fix(monkeypatch):
    packages.require_module("json", "with.x")
    monkeypatch.setitem(packages.OWN_ENV_OF, "no_such_module_flow_gpu", "requirements-vllm.txt")
    with pytest.raises(UserError, match=r"^with\.engine: vllm needs .*'no_such_module_flow_gpu'.*built from python-steps/requirements-vllm\.txt"):
        packages.require_module("no_such_module_flow_gpu", "with.engine: vllm")
    with pytest.raises(UserError, match="managed env has it"):
        packages.require_module("no_such_module_flow", "with.deepspeed")
