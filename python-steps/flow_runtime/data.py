"""Training data: alpaca-style records, their encoding, the dataset and the collator."""

from __future__ import annotations

import json
from pathlib import Path

from .runtime import UserError


def read_records(path: str, field: str) -> list[dict]:
    """Alpaca-style records {instruction, input, output, history, db_id}."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"with.{field}: cannot read {path}: {e}") from None
    if not isinstance(data, list):
        raise UserError(f"with.{field}: {path}: expected a JSON array of records")
    for i, r in enumerate(data):
        if not isinstance(r, dict) or not isinstance(r.get("instruction", ""), str):
            raise UserError(f"with.{field}: {path}: item {i}: expected an object with string 'instruction'")
    return data


def encode_all(w: dict, records: list[dict], tokenizer) -> list[dict]:
    """Token ids and labels per record; records with nothing to learn (empty response) are dropped."""
    # prompting imports this package; imported here so the package loads without it.
    from prompting import encode_causal, encode_seq2seq

    items = []
    for r in records:
        if w["model_type"] == "seq2seq":
            e = encode_seq2seq(r, tokenizer, w["max_source_length"], w["max_target_length"])
            e["decoder"] = True
        else:
            e = encode_causal(r, w["template"], tokenizer, w["max_source_length"], w["max_target_length"])
        if any(x != -100 for x in e["labels"]):
            items.append(e)
    if not items:
        raise UserError("with.train_file: no record has a non-empty response to train on")
    return items


class Dataset:
    def __init__(self, items: list[dict]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


class Collator:
    """Right-pads a batch; counts real tokens (tokens_per_s) and the slots they fill (padding_fraction)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id
        self.tokens = 0
        self.slots = 0

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        n = max(len(b["input_ids"]) for b in batch)
        ids = [b["input_ids"] + [self.pad_id] * (n - len(b["input_ids"])) for b in batch]
        mask = [[1] * len(b["input_ids"]) + [0] * (n - len(b["input_ids"])) for b in batch]
        self.tokens += sum(len(b["input_ids"]) for b in batch)
        self.slots += n * len(batch)
        out = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
        m = max(len(b["labels"]) for b in batch)
        if "decoder" in batch[0]:
            out["labels"] = torch.tensor([b["labels"] + [-100] * (m - len(b["labels"])) for b in batch])
        else:
            out["labels"] = torch.tensor([b["labels"] + [-100] * (n - len(b["labels"])) for b in batch])
        return out
