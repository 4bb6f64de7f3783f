"""python:dataset: every container and form loads to the expected alpaca records; the registry,
column mapping and text2sql mapping; weighted mixing is deterministic; bad rows name file, row
and column."""

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dataset as step
from flow_runtime import Params, UserError

ROWS = [{"prompt": f"question {i}", "context": f"CREATE TABLE t{i} (a INT); INSERT INTO t{i} VALUES (1);",
         "answer": f"SELECT a FROM t{i}"} for i in range(4)]
T2S = {"question": "prompt", "sql": "answer"}


def expected(i, prompt=step.TEXT2SQL_PROMPT):
    r = ROWS[i]
    return {"instruction": prompt.replace("{context}", r["context"]).replace("{question}", r["prompt"]),
            "input": "", "output": r["answer"], "history": [], "question": r["prompt"]}


def write_all(tmp: Path) -> dict:
    """The same rows in every container flow reads."""
    files = {}
    files["json"] = tmp / "d.json"
    files["json"].write_text(json.dumps(ROWS))
    files["jsonl"] = tmp / "d.jsonl"
    files["jsonl"].write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    files["csv"] = tmp / "d.csv"
    with files["csv"].open("w", newline="") as f:
        wr = csv.DictWriter(f, fieldnames=list(ROWS[0]))
        wr.writeheader()
        wr.writerows(ROWS)
    table = pa.Table.from_pylist(ROWS)
    files["parquet"] = tmp / "d.parquet"
    pq.write_table(table, files["parquet"])
    files["arrow"] = tmp / "d.arrow"
    with pa.OSFile(str(files["arrow"]), "wb") as sink, pa.ipc.new_file(sink, table.schema) as wr:
        wr.write_table(table)
    # A folder as datasets' save_to_disk writes it: Arrow IPC streams listed in state.json, in a
    # DatasetDict's split folder (the layout of datasets 2.x-4.x; the library itself is not installed).
    saved = tmp / "saved" / "train"
    saved.mkdir(parents=True)
    (tmp / "saved" / "dataset_dict.json").write_text(json.dumps({"splits": ["train"]}))
    for k, part in enumerate((ROWS[:3], ROWS[3:])):
        t = pa.Table.from_pylist(part)
        with pa.OSFile(str(saved / f"data-0000{k}-of-00002.arrow"), "wb") as sink, pa.ipc.new_stream(sink, t.schema) as wr:
            wr.write_table(t)
    (saved / "state.json").write_text(json.dumps({"_data_files": [{"filename": "data-00000-of-00002.arrow"},
                                                                  {"filename": "data-00001-of-00002.arrow"}]}))
    files["saved"] = tmp / "saved"
    return files


def with_(**kw):
    return {"seed": 42, "shuffle": False, **kw}


@pytest.mark.parametrize("kind", ["json", "jsonl", "csv", "parquet", "arrow", "saved"])
def test_every_container_loads_the_same_text2sql_records(tmp_path, kind):
    f = write_all(tmp_path)[kind]
    got = step.load_one(with_(), 0, {"file": str(f), "format": "text2sql", "columns": T2S})
    assert got == [expected(i) for i in range(4)]


def test_sharegpt_and_alpaca_with_column_mapping_through_the_registry(tmp_path):
    (tmp_path / "a.jsonl").write_text(json.dumps({"q": "Q", "ctx": "C", "a": "SELECT 1", "sys": "S"}) + "\n")
    (tmp_path / "s.json").write_text(json.dumps([{"msgs": [{"role": "user", "content": "Q"},
                                                          {"role": "assistant", "content": "SELECT 1"}]}]))
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "mine": {"file_name": "a.jsonl", "columns": {"prompt": "q", "query": "ctx", "response": "a", "system": "sys"}},
        "chat": {"file_name": "s.json", "formatting": "sharegpt", "columns": {"messages": "msgs"},
                 "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}},
        "hub": {"hf_hub_url": "x/y"},
    }))
    w = with_(dataset_dir=str(tmp_path))
    assert step.load_one(w, 0, {"name": "mine"}) == [
        {"instruction": "Q", "input": "C", "output": "SELECT 1", "history": [], "system": "S"}]
    assert step.load_one(w, 1, {"name": "chat"}) == [{"instruction": "Q", "input": "", "output": "SELECT 1", "history": []}]
    with pytest.raises(UserError, match=r"with.datasets\[2\].name: .*'hub' sets hf_hub_url: flow reads local files only"):
        step.load_one(w, 2, {"name": "hub"})
    with pytest.raises(UserError, match=r"no dataset 'nope'; known: chat, hub, mine"):
        step.load_one(w, 3, {"name": "nope"})


def test_text2sql_prompt_fills_placeholders_once_and_keeps_braces():
    rec = step.from_text2sql({"question": "{context}?", "sql": "SELECT 1", "context": "CREATE TABLE t (a JSON DEFAULT '{}')",
                              "db_id": "d"}, None, 0, prompt="{db_id}: {context} | {question}", system="S")
    assert rec["instruction"] == "d: CREATE TABLE t (a JSON DEFAULT '{}') | {context}?"
    assert rec["system"] == "S" and rec["db_id"] == "d"


@pytest.mark.parametrize("kind,row,message", [
    ("csv", None, "d.csv: line 4: field 'answer': missing"),
    ("jsonl", {"prompt": "q", "answer": 7, "context": "c"}, "d.jsonl: line 3: field 'answer': expected a string, got int"),
    ("parquet", {"prompt": "q", "answer": None, "context": "c"}, "d.parquet: row 2: field 'answer': missing"),
    ("json", {"prompt": "q", "answer": "  ", "context": "c"}, "d.json: record 2: field 'answer': empty SQL"),
])
def test_a_bad_row_names_file_row_and_column(tmp_path, kind, row, message):
    rows = [ROWS[0], ROWS[1], row if row is not None else {"prompt": "q", "context": "c"}]
    f = tmp_path / f"d.{kind}"
    if kind == "csv":
        f.write_text("prompt,context,answer\nq,c,SELECT 1\nq,c,SELECT 2\nq,c\n")
    elif kind == "jsonl":
        f.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif kind == "json":
        f.write_text(json.dumps(rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), f)
    with pytest.raises(UserError) as e:
        step.load_one(with_(), 0, {"file": str(f), "format": "text2sql", "columns": T2S})
    assert str(e.value) == f"with.datasets[0].file: {tmp_path}/{message}"


@pytest.mark.parametrize("name,text,message", [
    ("e.jsonl", "", "empty file"), ("x.txt", "a", "unknown file type '.txt'"),
    ("p.parquet", "not parquet", "cannot read as parquet"),
])
def test_unreadable_files_are_refused(tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    with pytest.raises(UserError, match=message):
        step.load_one(with_(), 0, {"file": str(tmp_path / name)})


def test_weights_mix_deterministically(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text("".join(json.dumps({"instruction": f"a{i}", "output": "x"}) + "\n" for i in range(10)))
    b.write_text("".join(json.dumps({"instruction": f"b{i}", "output": "y"}) + "\n" for i in range(4)))

    def mix(seed):
        out = tmp_path / f"train{seed}.json"
        p = Params("dataset", {"datasets": [{"file": str(a), "weight": 0.5}, {"file": str(b), "weight": 2.5}],
                               "seed": seed, "shuffle": True}, {"train": str(out), "metrics": str(tmp_path / "m.json")},
                   str(tmp_path))
        step.run(p)
        return json.loads(out.read_text())

    first = mix(1)
    names = [r["instruction"] for r in first]
    assert sum(n.startswith("a") for n in names) == 5 and len({n for n in names if n.startswith("a")}) == 5
    assert sum(n.startswith("b") for n in names) == 10  # every b twice, then 2 of 4 once more
    assert all(names.count(f"b{i}") in (2, 3) for i in range(4))
    assert mix(1) == first
    assert mix(2) != first
    assert json.loads((tmp_path / "m.json").read_text()) == {"records": 15, "records_0": 5, "records_1": 10}


BIRD = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "bird"


def test_bird_questions_become_records_with_schema_and_evidence():
    recs = step.load_one(with_(), 0, {"file": str(BIRD / "dev.json"), "format": "bird", "db_dir": str(BIRD / "dev_databases")})
    dev = json.loads((BIRD / "dev.json").read_text())
    assert len(recs) == len(dev)
    r = recs[3]  # has evidence
    assert r["output"] == dev[3]["SQL"] and r["db_id"] == "concert_singer" and r["difficulty"] == "moderate"
    import sqlite3
    ddl = [sql for (sql,) in sqlite3.connect(BIRD / "dev_databases" / "concert_singer" / "concert_singer.sqlite")
           .execute("SELECT sql FROM sqlite_master WHERE type='table'")]
    assert len(ddl) == 4 and r["instruction"].startswith("\n\n".join(ddl) + "\n\n-- Using valid SQLite and understanding")
    assert r["instruction"].endswith(f"-- {dev[3]['question']}\n-- External Knowledge: oldest refers to MAX(Age)")
    assert "External Knowledge" not in recs[0]["instruction"]  # no evidence: the official prompt without it
    assert recs[0]["instruction"].endswith(f"-- {dev[0]['question']}\n")


def test_bird_without_its_database_names_the_record(tmp_path):
    f = tmp_path / "dev.json"
    f.write_text(json.dumps([{"question": "q", "SQL": "SELECT 1", "db_id": "nope", "evidence": ""}]))
    with pytest.raises(UserError, match=r"with.datasets\[0\].file: .*dev.json: record 0: field 'db_id': no database .*nope.sqlite"):
        step.load_one(with_(), 0, {"file": str(f), "format": "bird", "db_dir": str(tmp_path)})
