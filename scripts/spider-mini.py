"""Rebuilds data/spider-mini/ from Spider 1.0: python3 scripts/spider-mini.py <spider folder> [<out>].

Spider's own rule for its splits: no database of the dev set is seen in training. The subset keeps
six small databases of Spider's dev set: two give the dev questions, the other four the training
questions, every item of each, in Spider's order. On top of that, no dev question and no dev gold
query (compared without case and spacing) may appear in the training split; the script refuses to
write a subset that breaks either rule. Standard library only."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

DEV_DBS = ["concert_singer", "singer"]
TRAIN_DBS = ["pets_1", "poker_player", "orchestra", "employee_hire_evaluation"]


def norm_sql(q: str) -> str:
    return " ".join(q.replace('"', "'").lower().split()).rstrip(";").strip()


def norm_question(q: str) -> str:
    return " ".join(q.lower().split())


def dump(path: Path, data) -> None:
    # Spider's own layout (indent 1), so a diff against its files stays readable.
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def main(spider: Path, out: Path) -> None:
    items = json.loads((spider / "dev.json").read_text(encoding="utf-8"))
    dev = [d for d in items if d["db_id"] in DEV_DBS]
    train = [{"db_id": d["db_id"], "question": d["question"], "query": d["query"]}
             for d in items if d["db_id"] in TRAIN_DBS]
    dev_sql = {norm_sql(d["query"]) for d in dev}
    dev_q = {norm_question(d["question"]) for d in dev}
    leaks = [t for t in train if norm_sql(t["query"]) in dev_sql or norm_question(t["question"]) in dev_q]
    if leaks:
        sys.exit(f"spider-mini: {len(leaks)} training items repeat a dev question or gold query, e.g. {leaks[0]}")
    dbs = set(DEV_DBS) | set(TRAIN_DBS)
    tables = [t for t in json.loads((spider / "tables.json").read_text(encoding="utf-8")) if t["db_id"] in dbs]
    out.mkdir(parents=True, exist_ok=True)
    dump(out / "dev.json", dev)
    dump(out / "train_spider.json", train)
    dump(out / "tables.json", tables)
    (out / "dev_gold.sql").write_text("".join(f"{d['query']}\t{d['db_id']}\n" for d in dev), encoding="utf-8")
    shutil.rmtree(out / "database", ignore_errors=True)
    for db in sorted(dbs):
        (out / "database" / db).mkdir(parents=True)
        shutil.copy2(spider / "database" / db / f"{db}.sqlite", out / "database" / db / f"{db}.sqlite")
    print(f"spider-mini: {len(train)} train items ({', '.join(TRAIN_DBS)}), "
          f"{len(dev)} dev items ({', '.join(DEV_DBS)}) -> {out}")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.splitlines()[0])
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else Path(__file__).resolve().parent.parent / "data" / "spider-mini")
