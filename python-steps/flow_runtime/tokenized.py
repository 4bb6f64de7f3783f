"""A tokenized dataset as python:tokenize saves it and python:sft reads it: a folder of
train.parquet (and eval.parquet) with input_ids and labels per example, plus tokenized.json (the
settings that produced the ids and the digest of the tokenizer's files). sft refuses a dataset
whose tokenizer digest is not its model's, so ids made by one tokenizer never train another."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import UserError

# Every file transformers reads to build a tokenizer (fast or slow, with its chat template).
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
    "vocab.json", "vocab.txt", "merges.txt", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model",
    "chat_template.jinja", "chat_template.json",
)
META = "tokenized.json"


def tokenizer_digest(folder: str) -> str:
    """sha256 over the names and bytes of the tokenizer files in a model folder."""
    h = hashlib.sha256()
    found = 0
    for name in TOKENIZER_FILES:
        f = Path(folder) / name
        if f.is_file():
            found += 1
            h.update(name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    if not found:
        raise UserError(f"with.model: {folder} has no tokenizer files ({', '.join(TOKENIZER_FILES[:3])}, ...)")
    return h.hexdigest()


def save(folder: Path, meta: dict, splits: dict[str, list[dict]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    for split, items in splits.items():
        table = pa.table({
            "input_ids": pa.array([x["input_ids"] for x in items], type=pa.list_(pa.int32())),
            "labels": pa.array([x["labels"] for x in items], type=pa.list_(pa.int32())),
        })
        pq.write_table(table, folder / f"{split}.parquet")
    (folder / META).write_text(json.dumps({**meta, "splits": sorted(splits)}, indent=2) + "\n", encoding="utf-8")


def load(folder: str, model: str) -> tuple[dict, dict[str, list[dict]]]:
    """(settings, {split: items}) of a saved dataset, after checking it was tokenized with `model`'s tokenizer."""
    import pyarrow.parquet as pq

    meta_file = Path(folder) / META
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"with.tokenized: {folder} is not a python:tokenize dataset: {e}") from None
    mine = tokenizer_digest(model)
    if meta["tokenizer_digest"] != mine:
        raise UserError(f"with.tokenized: {folder} was tokenized with another tokenizer than with.model's "
                        f"({meta['tokenizer_digest'][:12]} vs {mine[:12]}); give the tokenize step the same model")
    decoder = meta["model_type"] == "seq2seq"
    splits = {}
    for split in meta["splits"]:
        cols = pq.read_table(Path(folder) / f"{split}.parquet").to_pydict()
        splits[split] = [{"input_ids": i, "labels": lab, **({"decoder": True} if decoder else {})}
                         for i, lab in zip(cols["input_ids"], cols["labels"])]
    return meta, splits
