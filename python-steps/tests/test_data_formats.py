"""Training data formats python:sft reads directly (flow_runtime.data.read_records): alpaca JSON
arrays, JSON Lines, sharegpt and messages, each to the same alpaca records; anything else refused
with one line naming the file, record and field."""

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from flow_runtime import UserError
from flow_runtime.data import read_records
from flow_runtime.prompting import encode_turns

FIX = Path(__file__).resolve().parent / "fixtures"
ALPACA = [{"instruction": "Schema: t(a)", "input": "How many rows?", "output": "SELECT count(*) FROM t",
           "db_id": "d1"},
          {"instruction": "Schema: t(a)", "input": "", "output": "SELECT a FROM t", "history": [["hi", "hello"]]}]
EXPECTED = [{"instruction": "Schema: t(a)", "input": "How many rows?", "output": "SELECT count(*) FROM t",
             "history": [], "db_id": "d1"},
            {"instruction": "Schema: t(a)", "input": "", "output": "SELECT a FROM t", "history": [["hi", "hello"]]}]


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def test_alpaca_array_and_jsonl_give_the_same_records(tmp_path):
    a = write(tmp_path, "a.json", json.dumps(ALPACA))
    b = write(tmp_path, "b.jsonl", "\n".join(json.dumps(r) for r in ALPACA) + "\n\n")
    assert read_records(a, "train_file", need_output=True) == EXPECTED
    assert read_records(b, "train_file", need_output=True) == EXPECTED


def test_sharegpt_turns_become_history_instruction_and_output(tmp_path):
    conv = [{"conversations": [{"from": "system", "value": "Only SQL."},
                               {"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"},
                               {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}],
             "db_id": "d1"}]
    got = read_records(write(tmp_path, "s.json", json.dumps(conv)), "train_file", need_output=True)
    assert got == [{"instruction": "q2", "input": "", "output": "a2", "history": [["q1", "a1"]],
                    "system": "Only SQL.", "db_id": "d1"}]


def test_messages_with_a_system_column(tmp_path):
    rows = [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "SELECT 1"}],
             "system": "sys"}]
    got = read_records(write(tmp_path, "m.jsonl", json.dumps(rows[0])), "train_file", need_output=True)
    assert got == [{"instruction": "q", "input": "", "output": "SELECT 1", "history": [], "system": "sys"}]


@pytest.mark.parametrize("name,text,message", [
    ("e.json", "", "e.json: empty file"),
    ("x.json", json.dumps([{"prompt": "q", "answer": "a"}]),
     "x.json: record 0: neither alpaca ('instruction'), sharegpt ('conversations') nor messages ('messages'); "
     "its fields: answer, prompt"),
    ("o.json", json.dumps([ALPACA[0], {"instruction": "i"}]), "o.json: record 1: field 'output': missing"),
    ("n.jsonl", json.dumps(ALPACA[0]) + "\n" + json.dumps({"instruction": "i", "output": 3}),
     "n.jsonl: line 2: field 'output': expected a string, got int"),
    ("r.json", json.dumps([{"conversations": [{"from": "gpt", "value": "a"}]}]),
     "r.json: record 0: field 'conversations[0].from': expected 'human' (turns alternate human, gpt), got \"gpt\""),
    ("u.json", json.dumps([{"conversations": [{"from": "human", "value": "q"}]}]),
     "u.json: record 0: field 'conversations': ends with a human turn: no answer to train on"),
    ("c.json", json.dumps([{"conversations": [{"from": "human"}, {"from": "gpt", "value": "a"}]}]),
     "c.json: record 0: field 'conversations[0].value': missing"),
    ("m.json", json.dumps([{"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}]},
                           {"instruction": "i", "output": "o"}]),
     "m.json: record 1: field 'conversations': missing"),
    ("j.jsonl", '{"instruction": "i", "output": "o"}\n{oops\n', "j.jsonl: line 2: not valid JSON"),
])
def test_records_not_in_a_known_format_are_refused_with_file_record_and_field(tmp_path, name, text, message):
    path = write(tmp_path, name, text)
    with pytest.raises(UserError) as e:
        read_records(path, "train_file", need_output=True)
    assert str(e.value).startswith(f"with.train_file: {path[:-len(name)]}{message}")
    assert "\n" not in str(e.value)


def test_prediction_records_may_lack_an_answer(tmp_path):
    path = write(tmp_path, "d.json", json.dumps([{"instruction": "i", "input": "q", "db_id": "d"}]))
    assert read_records(path, "dev_file")[0]["output"] == ""


def test_a_record_system_prompt_reaches_the_encoded_prompt():
    tok = AutoTokenizer.from_pretrained(FIX / "bpe")
    rec = {"instruction": "q", "output": "a", "system": "Only SQL."}
    text = tok.decode(encode_turns(rec, "qwen3", tok)[0][0])
    assert text.startswith("<|im_start|>system\nOnly SQL.<|im_end|>\n<|im_start|>user\nq")
    # No system: qwen3 has no default one, so no system turn (as LLaMA-Factory).
    assert tok.decode(encode_turns({**rec, "system": ""}, "qwen3", tok)[0][0]).startswith("<|im_start|>user")
    assert "Only SQL." in tok.decode(encode_turns(rec, "qwen", tok)[0][0])
    assert "You are Qwen" not in tok.decode(encode_turns(rec, "qwen", tok)[0][0])
