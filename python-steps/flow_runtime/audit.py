"""Contamination audit: which training records overlap the evaluation set, before training.

Four checks, each a count of training records:
  question_exact       the question, stripped, equals an evaluation question (the Qwen3 seed's
                       filter: its notebook dropped the 356 items whose prompt equals a Spider dev
                       question)
  question_normalized  equal after case folding, punctuation removed and whitespace collapsed
  sql                  the SQL equals an evaluation gold query once string and number literals are
                       replaced by a placeholder, keywords and names case-folded and whitespace
                       collapsed (the same query asked about other values)
  database             the record's db_id is an evaluation database (Spider's own rule keeps
                       the two sets of databases apart)
A training record's question is its `question` field (python:dataset's text2sql rows keep it),
else its user text (instruction and input). `drop` removes the records that overlap by the checks
named in `drop_on`; an audit that would drop every record fails the step.
"""

from __future__ import annotations

import re
import string

from .data import Where, read_json_rows
from .errors import UserError

CHECKS = ("question_exact", "question_normalized", "sql", "database")
_SQL_KEYS = ("query", "SQL", "sql", "output")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})
# SQL literals: '...' and "..." strings (doubled quotes inside), then numbers not part of a name.
_STRING = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_SPACE = re.compile(r"\s+")
# Spaces around punctuation are not significant: "count( * )" == "count(*)".
_AROUND = re.compile(r"\s*([(),;=<>!*+/-])\s*")


def normalize_question(q: str) -> str:
    return _SPACE.sub(" ", q.casefold().translate(_PUNCT)).strip()


def normalize_sql(sql: str) -> str:
    s = _STRING.sub("?", sql)
    s = _NUMBER.sub("?", s)
    s = _AROUND.sub(r"\1", _SPACE.sub(" ", s.casefold()))
    return s.strip().rstrip(";").strip()


def read_eval(path: str) -> list[dict]:
    """Evaluation items: objects with `question`, a gold SQL (`query` as Spider, `SQL` as BIRD,
    `sql`, or `output` as alpaca records) and optionally `db_id`."""
    where = Where("audit.eval_file", path)
    data = read_json_rows(path, where)
    rows = list(enumerate(data)) if where.unit == "record" and isinstance(data, list) else data
    if where.unit == "record" and not isinstance(data, list):
        raise where.file("expected a JSON array of evaluation items")
    items = []
    for n, row in rows:
        if not isinstance(row, dict):
            raise where.at(n, None, f"expected an object, got {type(row).__name__}")
        q = row.get("question")
        if not isinstance(q, str):
            raise where.at(n, "question", "missing" if q is None else "expected a string")
        key = next((k for k in _SQL_KEYS if k in row), None)
        if key is None or not isinstance(row[key], str):
            raise where.at(n, key or "query", "missing gold SQL (query, SQL, sql or output)" if key is None
                           else "expected a string")
        items.append({"question": q, "sql": row[key], "db_id": row.get("db_id")})
    if not items:
        raise where.file("no evaluation items")
    return items


def _question(rec: dict) -> str:
    if isinstance(rec.get("question"), str):
        return rec["question"]
    return "\n".join(p for p in (rec.get("instruction") or "", rec.get("input") or "") if p)


def audit(records: list[dict], opts: dict) -> tuple[list[dict], dict]:
    """(records kept, counts as metrics `audit_<check>`, `audit_overlap`, `audit_dropped`)."""
    ev = read_eval(opts["eval_file"])
    exact = {e["question"].strip() for e in ev}
    norm = {normalize_question(e["question"]) for e in ev}
    sqls = {normalize_sql(e["sql"]) for e in ev}
    dbs = {e["db_id"] for e in ev if e["db_id"]}
    drop_on = set(opts.get("drop_on") or ["question_exact", "question_normalized", "sql"])
    counts = dict.fromkeys(CHECKS, 0)
    kept, overlap = [], 0
    for r in records:
        q = _question(r)
        hit = {
            "question_exact": q.strip() in exact,
            "question_normalized": normalize_question(q) in norm,
            "sql": normalize_sql(r.get("output") or "") in sqls,
            "database": r.get("db_id") in dbs,
        }
        for k, v in hit.items():
            counts[k] += v
        bad = any(hit[k] for k in drop_on)
        overlap += bad
        if not (bad and opts.get("drop")):
            kept.append(r)
    if not kept:
        raise UserError(f"with.audit: every one of the {len(records)} training records overlaps {opts['eval_file']} "
                        f"(by {', '.join(sorted(drop_on))}); dropping them all would leave nothing to train on")
    metrics = {f"audit_{k}": v for k, v in counts.items()}
    metrics["audit_overlap"] = overlap
    metrics["audit_dropped"] = len(records) - len(kept)
    return kept, metrics
