"""flow_runtime.candidates without a model: the read-only execution check behind
retry_on_error (hostile SQL refused or stopped, the database unchanged), the
follow-up record, the decoding settings, and the log-probability sums."""

import hashlib
import sqlite3

import pytest

from flow_runtime.candidates import DEFAULT_FOLLOW_UP, LogprobRecorder, SqlChecker, follow_up_record, sampling_settings


@pytest.fixture()
def db_dir(tmp_path):
    d = tmp_path / "db" / "shop"
    d.mkdir(parents=True)
    con = sqlite3.connect(d / "shop.sqlite")
    con.executescript("CREATE TABLE item (id INTEGER, name TEXT); INSERT INTO item VALUES (1, 'a'), (2, 'b');")
    con.commit()
    con.close()
    return tmp_path / "db"


def digest(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_the_check_runs_reads_refuses_writes_and_stops_runaway_queries(db_dir, tmp_path):
    f = db_dir / "shop" / "shop.sqlite"
    before = digest(f)
    c = SqlChecker(str(db_dir), timeout_s=0.5)
    assert c.error("shop", "SELECT name FROM item") is None
    assert c.error("shop", 'SELECT name FROM item WHERE name = "a"') is None  # Spider's double-quoted literals
    assert c.error("shop", "SELECT name FROM item WHERE name = '" + "x" * (10 * 2**20) + "'") is None
    assert "no such column" in c.error("shop", "SELECT nme FROM item")
    for sql in ("DROP TABLE item", "DELETE FROM item", "UPDATE item SET name = 'z'", "INSERT INTO item VALUES (3, 'c')"):
        assert "readonly" in c.error("shop", sql) or "read-only" in c.error("shop", sql), sql
    assert "not authorized" in c.error("shop", f"ATTACH DATABASE '{tmp_path / 'other.db'}' AS o")
    runaway = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    assert c.error("shop", runaway) == "query exceeded the 0.5 s limit"
    assert c.error("shop", "SELECT count(*) FROM item") is None  # the connection still works after the interrupt
    assert "not found" in c.error("nowhere", "SELECT 1")
    assert c.error("shop", "  ") == "empty query"
    c.close()
    assert digest(f) == before
    assert not (tmp_path / "other.db").exists()
    assert sorted(p.name for p in f.parent.iterdir()) == ["shop.sqlite"]


def test_the_follow_up_is_a_new_turn_after_the_failed_answer():
    rec = {"db_id": "shop", "instruction": "schema", "input": "Q?", "output": "gold", "history": [["q0", "a0"]]}
    r = follow_up_record(rec, "SELECT nme FROM item", "no such column: nme", DEFAULT_FOLLOW_UP)
    assert r["history"] == [["q0", "a0"], ["schema\nQ?", "SELECT nme FROM item"]]
    assert r["input"] == "The query\nSELECT nme FROM item\nfails on the database with this error:\nno such column: nme\nWrite a corrected SQL query."
    assert r["instruction"] == "" and r["output"] == "" and r["db_id"] == "shop"


def test_decoding_settings():
    base = {"num_beams": 1, "temperature": 0.8, "top_p": 0.95, "top_k": 50, "seed": 3}
    assert sampling_settings({**base, "num_samples": 1}) == {"do_sample": False, "num_beams": 1}
    assert sampling_settings({**base, "num_samples": 4}) == {"do_sample": True, "num_beams": 1, "temperature": 0.8,
                                                            "top_p": 0.95, "top_k": 50, "seed": 3, "num_samples": 4}
    assert sampling_settings({**base, "do_sample": True})["do_sample"] is True


def test_log_probabilities_stop_counting_after_the_stop_token():
    import torch

    rec = LogprobRecorder(prompt_len=1)
    # Two sequences, three steps; the scores make each step's log-softmax known.
    steps = [torch.log(torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])) for _ in range(3)]
    chosen = torch.tensor([[3, 2, 0], [1, 0, 0]])  # sequence 2 stops (token 0) at step 2, then pads with 0
    ids = torch.tensor([[9], [9]])
    for t, s in enumerate(steps):
        rec(ids, s)
        ids = torch.cat([ids, chosen[:, t:t + 1]], dim=1)
    a, b = rec.totals(ids, stops={0})
    assert a == pytest.approx(float(torch.log(torch.tensor(0.4 * 0.3 * 0.1))))
    assert b == pytest.approx(float(torch.log(torch.tensor(0.25 * 0.25))))
