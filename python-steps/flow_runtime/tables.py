"""Rows of a local data file, whatever its container: JSON array, JSON Lines, CSV, parquet, arrow,
or a folder written by the `datasets` library's save_to_disk. Each row comes with its number as
bad-input messages name it (Where.unit: a JSON array's record index, a JSONL or CSV line, a
columnar row index).

Parquet and arrow are read with pyarrow (the Apache Arrow project's own reader, already in the
managed env): `datasets` itself stores a saved folder as Arrow IPC streams, so one library covers
both, and flow needs no `datasets` install. CSV is read with the standard csv module, not
pyarrow.csv, because pyarrow infers column types ("1" would become an int and a SQL column a
number); a CSV cell stays the text it is.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from .data import Where, read_json_rows

COLUMNAR = (".parquet", ".arrow")
SUFFIXES = (".json", ".jsonl", ".csv", *COLUMNAR)


def read_rows(path: str, where: Where, split: str = "train") -> list[tuple[int, object]]:
    p = Path(path)
    if p.is_dir():
        return _saved_dataset(p, where, split)
    suffix = p.suffix.lower()
    if suffix in (".json", ".jsonl"):
        data = read_json_rows(path, where)
        if where.unit == "record":
            if not isinstance(data, list):
                raise where.file("expected a JSON array of records (or JSON Lines)")
            return list(enumerate(data))
        return data
    if suffix == ".csv":
        return _csv(p, where)
    if suffix in COLUMNAR:
        return _columnar(p, where)
    raise where.file(f"unknown file type '{suffix or p.name}'; known: {', '.join(SUFFIXES)}, or a folder saved by datasets")


def _csv(p: Path, where: Where) -> list[tuple[int, object]]:
    where.unit = "line"
    try:
        with p.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            rows = []
            for row in reader:
                # A short row gives None for its missing cells: the same as a missing column.
                rows.append((reader.line_num, {k: v for k, v in row.items() if k is not None and v is not None}))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise where.file(f"cannot read as CSV: {e}") from None
    if not rows and not p.read_text(encoding="utf-8").strip():
        raise where.file("empty file")
    return rows


def _table_rows(table, where: Where) -> list[tuple[int, object]]:
    where.unit = "row"
    return list(enumerate(table.to_pylist()))


def _columnar(p: Path, where: Where) -> list[tuple[int, object]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if p.stat().st_size == 0:
            raise where.file("empty file")
        if p.suffix.lower() == ".parquet":
            return _table_rows(pq.read_table(p), where)
        return _table_rows(_arrow_table(p), where)
    except (OSError, pa.ArrowException) as e:
        raise where.file(f"cannot read as {p.suffix[1:]}: {e}") from None


def _arrow_table(p: Path):
    """An Arrow IPC file or stream (datasets writes streams)."""
    import pyarrow as pa

    try:
        with pa.memory_map(str(p)) as src:
            return pa.ipc.open_file(src).read_all()
    except pa.ArrowInvalid:
        with pa.memory_map(str(p)) as src:
            return pa.ipc.open_stream(src).read_all()


def _saved_dataset(p: Path, where: Where, split: str) -> list[tuple[int, object]]:
    """A Dataset.save_to_disk folder (state.json lists its arrow files) or a DatasetDict's
    (dataset_dict.json lists the splits, each a Dataset folder)."""
    import pyarrow as pa

    if (p / "dataset_dict.json").is_file():
        splits = json.loads((p / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
        if split not in splits:
            raise where.file(f"no split '{split}' in this saved DatasetDict; its splits: {', '.join(splits)}")
        return _saved_dataset(p / split, where, split)
    state = p / "state.json"
    if not state.is_file():
        raise where.file("a folder, but not one saved by datasets (no state.json or dataset_dict.json)")
    files = [f["filename"] for f in json.loads(state.read_text(encoding="utf-8")).get("_data_files", [])]
    if not files:
        raise where.file("state.json lists no data files")
    try:
        tables = [_arrow_table(p / f) for f in files]
    except (OSError, pa.ArrowException) as e:
        raise where.file(f"cannot read its arrow files: {e}") from None
    return _table_rows(pa.concat_tables(tables), where)
