"""Several candidates per prompt for python:predict (num_samples), each with its
log-probability, and the execution check behind retry_on_error.

Samples come from one generate() per batch with num_return_sequences = N (HF)
or one request with n = N (vLLM), never N passes. A candidate's log-probability
is the sum, over its generated tokens up to and including the stop token, of the
model's own log-softmax (before temperature, top-p and top-k reshape it), so the
vote step's `logprob` strategy and tie-break compare what the model believes,
whatever the sampler's settings were.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from .prompting import user_text


class LogprobRecorder:
    """A logits processor that records log p(token) of each chosen token.

    HF runs the processors given to generate() before its sampling warpers, so
    this one sees the model's distribution. At step t it is called with the
    tokens chosen up to t-1 and the scores of step t: it looks up the previous
    step's chosen token in the previous step's log-softmax, holding one
    (batch, vocab) tensor at a time rather than every step's scores."""

    def __init__(self, prompt_len: int):
        self.prompt_len = prompt_len
        self.prev = None
        self.steps: list = []

    def __call__(self, input_ids, scores):
        import torch

        if self.prev is not None:
            self.steps.append(self.prev.gather(1, input_ids[:, -1:]).squeeze(1))
        self.prev = torch.log_softmax(scores.float(), dim=-1)
        return scores

    def totals(self, sequences, stops: set[int]) -> list[float]:
        """Summed log-probabilities per returned sequence; tokens after the first stop are padding."""
        import torch

        new = sequences[:, self.prompt_len:]
        if self.prev is not None and new.shape[1] > len(self.steps):
            self.steps.append(self.prev.gather(1, new[:, len(self.steps):len(self.steps) + 1]).squeeze(1))
        if not self.steps:
            return [0.0] * sequences.shape[0]
        lp = torch.stack(self.steps, dim=1)[:, :new.shape[1]]
        is_stop = torch.zeros_like(new, dtype=torch.bool)
        for s in stops:
            is_stop |= new == s
        # A token counts while no stop came before it (the stop itself counts).
        before = torch.cumsum(is_stop.int(), dim=1) - is_stop.int()
        return (lp * (before == 0)).sum(dim=1).tolist()


def sampling_settings(w: dict) -> dict:
    """The decoding a recipe asked for: num_samples > 1 samples unless told otherwise
    (the schema refuses num_samples > 1 with do_sample: false)."""
    n = w.get("num_samples") or 1
    do_sample = w["do_sample"] if w.get("do_sample") is not None else n > 1
    d = {"do_sample": do_sample, "num_beams": w["num_beams"]}
    if do_sample:
        d |= {"temperature": w["temperature"], "top_p": w["top_p"], "top_k": w["top_k"]}
        if "seed" in w:  # always, after the schema's defaults
            d["seed"] = w["seed"]
    if n > 1:
        d["num_samples"] = n
    return d


DEFAULT_FOLLOW_UP = ("The query\n{sql}\nfails on the database with this error:\n{error}\n"
                     "Write a corrected SQL query.")


def follow_up_record(record: dict, sql: str, error: str, wording: str) -> dict:
    """The record asked again after its SQL failed: the failed answer becomes an
    earlier turn of the conversation, and the follow-up (with the database's
    error) is the new question, rendered by the same template as the first."""
    history = [*(record.get("history") or []), [user_text(record), sql]]
    text = wording.replace("{sql}", sql).replace("{error}", error)
    return {**record, "instruction": "", "input": text, "history": history, "output": ""}


class SqlChecker:
    """Runs a candidate on its database to learn whether it executes, and the error when not.

    Python's sqlite3 in this process: the file is opened read-only (`mode=ro`
    URI: SQLite never writes or creates it), PRAGMA query_only refuses writes,
    an authorizer refuses ATTACH (which could open another file), and a progress
    handler interrupts a statement past its time limit. Unlike better-sqlite3 in
    the TS evaluator, Python's sqlite3 exposes the progress handler, so a runaway
    query is stopped in place without a worker process to kill. Rows are read
    and dropped (only "does it run to the end" matters), so memory stays
    bounded whatever the result's size."""

    def __init__(self, db_dir: str, timeout_s: float):
        self.db_dir = Path(db_dir)
        self.timeout_s = timeout_s
        self.conns: dict[str, sqlite3.Connection | None] = {}
        self.seen: dict[tuple[str, str], str | None] = {}

    def _conn(self, db_id: str):
        if db_id not in self.conns:
            path = self.db_dir / db_id / f"{db_id}.sqlite"
            conn = None
            if path.is_file():
                conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
                conn.execute("PRAGMA query_only = ON")
                conn.set_authorizer(lambda action, *_: sqlite3.SQLITE_DENY if action in (
                    sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH) else sqlite3.SQLITE_OK)
            self.conns[db_id] = conn
        return self.conns[db_id]

    def error(self, db_id: str, sql: str) -> str | None:
        """None when the SQL runs to the end; otherwise the database's message."""
        key = (db_id, sql)
        if key in self.seen:
            return self.seen[key]
        conn = self._conn(db_id)
        if conn is None:
            return f"database {self.db_dir / db_id / (db_id + '.sqlite')} not found"
        if not sql.strip():
            return "empty query"
        deadline = time.monotonic() + self.timeout_s
        conn.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10_000)
        try:
            cur = conn.execute(sql)
            while cur.fetchmany(1000):
                pass
            err = None
        except sqlite3.OperationalError as e:
            err = f"query exceeded the {self.timeout_s} s limit" if str(e) == "interrupted" else str(e)
        except (sqlite3.Error, ValueError, OverflowError) as e:
            err = str(e) or type(e).__name__
        finally:
            conn.set_progress_handler(None, 0)
        err = err if err is None or len(err) <= 500 else err[:500] + "…"
        self.seen[key] = err
        return err

    def close(self) -> None:
        for c in self.conns.values():
            if c is not None:
                c.close()
