"""The contamination audit finds dev items injected into a training file (by exact and normalized
question, by SQL with other literals and spacing, by database) and drop: true removes them."""

import json
from pathlib import Path

import pytest

import dataset as step
from flow_runtime import Params, UserError
from flow_runtime.audit import normalize_question, normalize_sql

DEV = Path(__file__).resolve().parents[2] / "data" / "spider-mini" / "dev.json"
dev = json.loads(DEV.read_text())

CLEAN = [{"question": f"How many widgets has factory {i}?", "sql": f"SELECT count(*) FROM widget WHERE factory = {i} AND kind = 'x{i}'",
          "context": "CREATE TABLE widget (factory INT, kind TEXT);", "db_id": "widgets"} for i in range(3)]
INJECTED = [
    # the dev question verbatim (another SQL): exact and normalized
    {"question": dev[0]["question"], "sql": "SELECT 1", "context": "c", "db_id": "other"},
    # the same question in other case, spacing and punctuation
    {"question": "  how many SINGERS are from each country ", "sql": "SELECT 2", "context": "c", "db_id": "other"},
    # the dev SQL with other literals and spacing, asked differently, on another database name
    {"question": "Stadiums holding 1 to 2 people?", "context": "c", "db_id": "other",
     "sql": "select location, name from stadium where capacity between 1 and 2;"},
    # only the database is shared: reported, not dropped by default
    {"question": "List all pets.", "sql": "SELECT * FROM pets", "context": "c", "db_id": "singer"},
]


def test_normalizers():
    assert normalize_question("How many singers are from each country?") == normalize_question(" how many SINGERS  are from each country ")
    assert normalize_sql("SELECT name ,  country FROM singer WHERE song_name LIKE '%Hey%'") == \
        normalize_sql("select name, country from singer where song_name like 'it''s';")
    assert normalize_sql("SELECT a FROM t WHERE x = 10") == normalize_sql("SELECT a FROM t WHERE x=3.5")
    assert normalize_sql("SELECT t1.a FROM t") != normalize_sql("SELECT t2.a FROM t")


def run(tmp_path, rows, **audit):
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, metrics = tmp_path / "out.json", tmp_path / "metrics.json"
    w = {"datasets": [{"file": str(data), "format": "text2sql"}], "seed": 0, "shuffle": False,
         "audit": {"eval_file": str(DEV), **audit}}
    step.run(Params("dataset", w, {"train": str(out), "metrics": str(metrics)}, str(tmp_path)))
    return json.loads(out.read_text()), json.loads(metrics.read_text())


def test_injected_dev_items_are_found_and_dropped(tmp_path):
    kept, m = run(tmp_path, CLEAN + INJECTED, drop=True)
    assert m == {"records": 4, "records_0": 7, "audit_question_exact": 1, "audit_question_normalized": 2,
                 "audit_sql": 1, "audit_database": 1, "audit_overlap": 3, "audit_dropped": 3}
    assert [r["question"] for r in kept] == [r["question"] for r in CLEAN] + ["List all pets."]


def test_without_drop_the_audit_only_counts(tmp_path):
    kept, m = run(tmp_path, CLEAN + INJECTED)
    assert len(kept) == 7 and m["audit_overlap"] == 3 and m["audit_dropped"] == 0


def test_drop_on_database(tmp_path):
    kept, m = run(tmp_path, CLEAN + INJECTED, drop=True, drop_on=["database"])
    assert m["audit_dropped"] == 1 and len(kept) == 6


def test_an_audit_that_drops_everything_fails(tmp_path):
    with pytest.raises(UserError, match=r"every one of the 3 training records overlaps .*dev.json"):
        run(tmp_path, INJECTED[:3], drop=True)


def test_an_eval_file_without_gold_sql_is_refused(tmp_path):
    bad = tmp_path / "dev.json"
    bad.write_text(json.dumps([{"question": "q", "db_id": "d"}]))
    data = tmp_path / "t.jsonl"
    data.write_text(json.dumps(CLEAN[0]) + "\n")
    w = {"datasets": [{"file": str(data), "format": "text2sql"}], "seed": 0, "shuffle": False, "audit": {"eval_file": str(bad)}}
    with pytest.raises(UserError, match=r"with.audit.eval_file: .*dev.json: record 0: field 'query': missing gold SQL"):
        step.run(Params("dataset", w, {"train": str(tmp_path / "o"), "metrics": str(tmp_path / "m")}, str(tmp_path)))
