"""python:dataset: your own training data (not Spider) to the alpaca records python:sft reads.

Each entry of `datasets` is a local file (json, jsonl, csv, parquet, arrow, or a folder saved by
`datasets`) or a name in `dataset_dir`/dataset_info.json (LLaMA-Factory's registry: file_name,
formatting, columns, tags, num_samples, split), in alpaca, sharegpt or messages form with
LLaMA-Factory's column mapping, `text2sql` (question, SQL and a schema/context column) or `bird`
(BIRD questions with their database's schema and evidence). Mixed
with weights, deterministically: a dataset of n records with weight w gives round(w·n) of them
(every record ⌊w⌋ times, then a seeded sample without replacement for the rest), and the mix is
shuffled with `seed`. The same inputs give the same bytes. `audit:` then checks the mix against
the evaluation set (flow_runtime/audit.py).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from flow_runtime import UserError, events, log, main, write_json
from flow_runtime.data import MESSAGES_TAGS, TEXT2SQL_PROMPT, Where, convert, detect_format, from_text2sql
from flow_runtime.tables import read_rows

# Registry keys that name data flow cannot read: remote hubs, loading scripts, cloud files.
_REMOTE = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")


def registry_entry(w: dict, i: int, name: str) -> dict:
    """The dataset_info.json entry, as the fields of a `datasets` item (the item's own win)."""
    where = f"with.datasets[{i}].name"
    info_file = Path(w["dataset_dir"]) / "dataset_info.json"
    try:
        info = json.loads(info_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{where}: cannot read {info_file}: {e}") from None
    if not isinstance(info, dict) or name not in info:
        known = ", ".join(sorted(info)) if isinstance(info, dict) else "none"
        raise UserError(f"{where}: {info_file}: no dataset '{name}'; known: {known}")
    e = info[name]
    bad = [k for k in _REMOTE if e.get(k)]
    if bad:
        raise UserError(f"{where}: {info_file}: '{name}' sets {bad[0]}: flow reads local files only (file_name)")
    if e.get("ranking"):
        raise UserError(f"{where}: {info_file}: '{name}' is a preference dataset (ranking: true); python:sft trains on answers")
    if not e.get("file_name"):
        raise UserError(f"{where}: {info_file}: '{name}' has no file_name")
    fmt = e.get("formatting", "alpaca")
    if fmt not in ("alpaca", "sharegpt"):
        raise UserError(f"{where}: {info_file}: '{name}': formatting '{fmt}' is not alpaca or sharegpt")
    out = {"file": str(Path(w["dataset_dir"]) / e["file_name"]), "format": fmt}
    for k in ("columns", "tags", "num_samples", "split"):
        if k in e:
            out[k] = e[k]
    return out


def load_one(w: dict, i: int, spec: dict) -> list[dict]:
    if spec.get("name"):
        spec = {**registry_entry(w, i, spec["name"]), **{k: v for k, v in spec.items() if k != "name"}}
    where = Where(f"datasets[{i}].file", spec["file"])
    rows = read_rows(spec["file"], where, spec.get("split", "train"))
    if not rows:
        raise where.file("no records")
    fmt = spec.get("format")
    if fmt == "bird":
        return sample(bird_records(spec, rows, where), spec, random.Random(f"{w['seed']}:{i}"))
    if fmt == "text2sql":
        recs = [from_text2sql(row, where, n, spec.get("columns"), spec.get("prompt", TEXT2SQL_PROMPT),
                              spec.get("system", "")) if isinstance(row, dict)
                else _not_object(where, n, row) for n, row in rows]
    else:
        fmt = fmt or detect_format(rows[0][1], where, rows[0][0])
        tags = spec.get("tags")
        # LLaMA-Factory declares a messages list as sharegpt with role/content tags.
        if fmt == "sharegpt" and tags and tags.get("role_tag") == "role":
            fmt, tags = "messages", {**MESSAGES_TAGS, **tags}
        recs = [convert(row, fmt, where, n, spec.get("columns"), tags, need_output=True) for n, row in rows]
        if spec.get("system"):
            for r in recs:
                r.setdefault("system", spec["system"])
    return sample(recs, spec, random.Random(f"{w['seed']}:{i}"))


# bird-bench/mini_dev's baseline prompt (llm/src/prompt.py generate_comment_prompt, SQLite): the
# schema, then the question as an SQL comment, the evidence as "External Knowledge" when there is some.
BIRD_PROMPT = ("{context}\n\n-- Using valid SQLite and understanding External Knowledge, answer the following "
               "questions for the tables provided above.\n-- {question}\n-- External Knowledge: {evidence}")
BIRD_PROMPT_NO_EVIDENCE = ("{context}\n\n-- Using valid SQLite, answer the following questions for the tables "
                           "provided above.\n-- {question}\n")


def bird_schema(db_dir: str, db_id: str, where: Where, n) -> str:
    """The CREATE TABLE statements of dev_databases/<db>/<db>.sqlite, in sqlite_master's order and
    joined by a blank line, as mini_dev's baseline writes the schema (llm/src/table_schema.py)."""
    import sqlite3

    path = Path(db_dir) / db_id / f"{db_id}.sqlite"
    if not path.is_file():
        raise where.at(n, "db_id", f"no database {path}")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type='table'").fetchall()
    finally:
        conn.close()
    return "\n\n".join(sql for name, sql in rows if name != "sqlite_sequence")


def bird_records(spec: dict, rows: list, where: Where) -> list[dict]:
    """BIRD questions (question, evidence, SQL, db_id, difficulty) with their database's schema and
    the evidence in the prompt."""
    if not spec.get("db_dir"):
        raise UserError(f"with.datasets: format bird needs db_dir (the dev_databases folder) for {spec['file']}")
    cols = {"sql": "SQL", "context": "_schema", **(spec.get("columns") or {})}
    schemas: dict[str, str] = {}
    out = []
    for n, row in rows:
        if not isinstance(row, dict):
            _not_object(where, n, row)
        db = row.get(cols.get("db_id", "db_id"))
        if not isinstance(db, str) or not db:
            raise where.at(n, cols.get("db_id", "db_id"), "missing" if db is None else "expected a database name")
        if db not in schemas:
            schemas[db] = bird_schema(spec["db_dir"], db, where, n)
        evidence = row.get(cols.get("evidence", "evidence"))
        prompt = spec.get("prompt") or (BIRD_PROMPT if isinstance(evidence, str) and evidence.strip() else BIRD_PROMPT_NO_EVIDENCE)
        rec = from_text2sql({**row, "_schema": schemas[db]}, where, n, cols, prompt, spec.get("system", ""))
        if isinstance(evidence, str):
            rec["evidence"] = evidence
        if isinstance(row.get("difficulty"), str):
            rec["difficulty"] = row["difficulty"]
        out.append(rec)
    return out


def _not_object(where: Where, n, row):
    raise where.at(n, None, f"expected an object, got {type(row).__name__}")


def sample(recs: list[dict], spec: dict, rng: random.Random) -> list[dict]:
    """num_samples (LLaMA-Factory's: a seeded permutation's first n, topped up with replacement when
    n exceeds the data), then the weight."""
    if spec.get("num_samples"):
        k = spec["num_samples"]
        idx = rng.sample(range(len(recs)), min(k, len(recs)))
        idx += [rng.randrange(len(recs)) for _ in range(k - len(idx))]
        recs = [recs[j] for j in idx]
    weight = spec.get("weight", 1)
    whole, want = int(weight), round(weight * len(recs))
    out = recs * whole
    rest = want - len(out)
    if rest > 0:
        out += [recs[j] for j in sorted(rng.sample(range(len(recs)), rest))]
    return out


def run(p) -> None:
    w = p.with_
    mixed: list[dict] = []
    counts = {}
    for i, spec in enumerate(w["datasets"]):
        recs = load_one(w, i, spec)
        label = spec.get("name") or Path(spec["file"]).name
        log(f"dataset: {label}: {len(recs)} records (weight {spec.get('weight', 1)})")
        counts[f"records_{i}"] = len(recs)
        mixed += recs
    if w["shuffle"]:
        random.Random(w["seed"]).shuffle(mixed)
    if not mixed:
        raise UserError("with.datasets: the mix has no records (every weight rounds to nothing)")
    metrics = {"records": len(mixed), **counts}
    if w.get("audit"):
        # Imported here: the audit is optional and has its own module.
        from flow_runtime.audit import audit

        mixed, found = audit(mixed, w["audit"])
        metrics.update(found)
        metrics["records"] = len(mixed)
    for k, v in metrics.items():
        events.metric(k, v)
    with p.output("train").open("w", encoding="utf-8") as f:
        json.dump(mixed, f, ensure_ascii=False, indent=1)
    write_json(p.output("metrics"), metrics)
    log(f"dataset: wrote {len(mixed)} records")


if __name__ == "__main__":
    main("dataset", run)
