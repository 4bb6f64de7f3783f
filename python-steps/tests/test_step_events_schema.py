"""The Python side of schema/step-events.schema.json: the runtime's events and
a real step's error event match it (the TS side is tests/step-events-schema.test.ts)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

HERE = Path(__file__).resolve().parent
STEPS = HERE.parent
SCHEMA = json.loads((STEPS.parent / "schema" / "step-events.schema.json").read_text(encoding="utf-8"))


def validator(definition: str):
    return jsonschema.Draft7Validator({"$ref": f"#/definitions/{definition}", "definitions": SCHEMA["definitions"]})


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_event_the_runtime_writes_matches(tmp_path, monkeypatch):
    from flow_runtime.channel import Events

    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("FLOW_EVENTS_FILE", str(path))
    monkeypatch.delenv("FLOW_EVENTS_FD", raising=False)
    events = Events()
    events.progress(3, 10, "step", loss=1.5, lr=2e-4, tokens_per_s=123.4, skipped=None)
    events.progress(1, None, "item")
    events.metric("train_loss", 1)
    events.artifact("adapter", tmp_path / "adapter")
    events.emit("loss", step=3, loss=1.5, lr=2e-4)
    events.emit("loss", step=4, eval_loss=1.7)
    events.emit("resumed", step=2)
    events.log_only("{'loss': '1.5', 'grad_norm': '0.25', 'learning_rate': '0.0002', 'epoch': '0.5'}")
    got = read_events(path)
    assert [e["type"] for e in got] == ["progress", "progress", "metric", "artifact", "loss", "loss", "resumed", "log"]
    v = validator("event")
    for e in got:
        v.validate(e)


@pytest.mark.slow  # a real step process: python, torch and transformers start
def test_a_real_step_reports_a_user_error_as_the_schema_says(tmp_path):
    params = {"step": "predict", "with": {"model": str(tmp_path / "m"), "dev_file": str(tmp_path / "missing.json")},
              "outputs": {"predictions": str(tmp_path / "pred.sql")}, "work_dir": str(tmp_path)}
    validator("params").validate(params)
    (tmp_path / "p.json").write_text(json.dumps(params), encoding="utf-8")
    env = {**os.environ, "FLOW_EVENTS_FILE": str(tmp_path / "events.jsonl")}
    env.pop("FLOW_EVENTS_FD", None)
    r = subprocess.run([sys.executable, str(STEPS / "predict.py"), "--params", str(tmp_path / "p.json")],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    got = read_events(tmp_path / "events.jsonl")
    for e in got:
        validator("event").validate(e)
    # The step's log line (torch's threads) comes first; then the error, once.
    got = [e for e in got if e["type"] != "log"]
    assert [e["type"] for e in got] == ["error"]
    assert "with.dev_file" in got[0]["message"]
    assert got[0]["kind"] == "user"
    validator("event").validate(got[0])


@pytest.mark.slow  # a real step process: python, torch and transformers start
def test_a_user_error_on_another_rank_reaches_the_events_file(tmp_path):
    # Under torchrun the rank that fails first may be the only one to report: the launcher stops
    # the others, rank 0 included, before they get there.
    params = {"step": "predict", "with": {"model": str(tmp_path / "m"), "dev_file": str(tmp_path / "missing.json")},
              "outputs": {"predictions": str(tmp_path / "pred.sql")}, "work_dir": str(tmp_path)}
    (tmp_path / "p.json").write_text(json.dumps(params), encoding="utf-8")
    env = {**os.environ, "FLOW_EVENTS_FILE": str(tmp_path / "events.jsonl"), "RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2"}
    env.pop("FLOW_EVENTS_FD", None)
    r = subprocess.run([sys.executable, str(STEPS / "predict.py"), "--params", str(tmp_path / "p.json")],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "error (rank 1)" in r.stderr
    got = read_events(tmp_path / "events.jsonl")
    for e in got:
        validator("event").validate(e)
    # The step's log line (torch's threads) comes first; then the error, once.
    got = [e for e in got if e["type"] != "log"]
    assert [e["type"] for e in got] == ["error"]
    assert "with.dev_file" in got[0]["message"]


@pytest.mark.slow  # a real step process: python, torch and transformers start
def test_a_crash_is_reported_with_its_exception_line_and_the_traceback_stays_on_stderr(tmp_path):
    # A model folder with only config.json: transformers raises deep inside from_pretrained.
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2", "vocab_size": 64, "hidden_size": 8,
                                                    "intermediate_size": 8, "num_hidden_layers": 1,
                                                    "num_attention_heads": 2}), encoding="utf-8")
    dev = tmp_path / "dev.json"
    dev.write_text(json.dumps([{"instruction": "q", "input": "", "output": "SELECT 1"}]), encoding="utf-8")
    params = {"step": "predict", "with": {"model": str(model), "dev_file": str(dev), "template": "qwen"},
              "outputs": {"predictions": str(tmp_path / "pred.sql")}, "work_dir": str(tmp_path)}
    (tmp_path / "p.json").write_text(json.dumps(params), encoding="utf-8")
    env = {**os.environ, "FLOW_EVENTS_FILE": str(tmp_path / "events.jsonl")}
    env.pop("FLOW_EVENTS_FD", None)
    r = subprocess.run([sys.executable, str(STEPS / "predict.py"), "--params", str(tmp_path / "p.json")],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 1, r.stderr
    assert "Traceback (most recent call last)" in r.stderr
    got = read_events(tmp_path / "events.jsonl")
    for e in got:
        validator("event").validate(e)
    # The step's log line (torch's threads) comes first; then the error, once.
    got = [e for e in got if e["type"] != "log"]
    assert [e["type"] for e in got] == ["error"]
    assert got[0]["kind"] == "crash"
    assert got[0]["message"].startswith("OSError: ") and "\n" not in got[0]["message"]
    assert got[0]["message"] in r.stderr.splitlines()
    validator("event").validate(got[0])


@pytest.mark.parametrize("bad", [
    {"type": "progress", "time": 1.0, "current": 1, "total": 2, "unit": "step", "values": {"loss": "high"}},
    {"type": "metric", "time": 1.0, "name": "x"},
    {"type": "loss", "time": 1.0, "step": 1, "loss": 0.5, "lr": 0.1, "extra": 1},
    {"type": "loss", "time": 1.0, "step": 1},
    {"type": "error", "time": 1.0, "message": "x", "kind": "oops"},
    {"type": "telemetry", "time": 1.0},
])
def test_the_schema_rejects_what_the_engine_could_not_read(bad):
    with pytest.raises(jsonschema.ValidationError):
        validator("event").validate(bad)
