"""Prompt parity between training and prediction, checked rather than hoped for.

python:sft records, beside the model or adapter it saves, a sample of its
training records with a digest of the prompt token ids it trained on for each
(flow-prompts.json; python:merge carries it to the merged model). python:predict
renders those same records with its own settings (template, max_source_length,
model type: the path the HF and vLLM engines share, token ids computed on the
CPU) and fails when a digest differs: a model asked in a format other than the
one it learned loses much of its accuracy without any error (DB-GPT-Hub#234:
about half the EX with the wrong template)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .errors import UserError
from .prompting import IGNORE_INDEX

MANIFEST = "flow-prompts.json"
SAMPLE = 16


def digest(ids: list[int]) -> str:
    return hashlib.sha256(",".join(map(str, ids)).encode()).hexdigest()[:16]


def trained_prompt(item: dict) -> list[int]:
    """The prompt part of an encoded training item: for a causal model, input_ids before the
    final answer (the trailing labels that are not IGNORE_INDEX); a seq2seq model's whole source."""
    if item.get("decoder"):
        return list(item["input_ids"])
    labels = item["labels"]
    k = len(labels)
    while k > 0 and labels[k - 1] != IGNORE_INDEX:
        k -= 1
    return list(item["input_ids"][:k])


def write_manifest(out_dir: Path, w: dict, records: list[dict], tokenizer) -> None:
    """The first SAMPLE records with an answer, encoded by the function training encodes with."""
    from .data import encode_all

    sample = [r for r in records if r.get("output")][:SAMPLE]
    if not sample:
        return
    items = encode_all(w, sample, tokenizer)
    manifest = {"template": w.get("template"), "model_type": w["model_type"],
                "max_source_length": w["max_source_length"],
                "records": [{k: r.get(k) for k in ("instruction", "input", "history", "db_id")} for r in sample],
                "digests": [digest(trained_prompt(it)) for it in items]}
    (Path(out_dir) / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")


def find_manifest(*dirs: str | None) -> dict | None:
    for d in dirs:
        if d and (Path(d) / MANIFEST).is_file():
            return json.loads((Path(d) / MANIFEST).read_text(encoding="utf-8"))
    return None


def check(manifest: dict, w: dict, rendered: list[list[int]]) -> None:
    """`rendered`: predict's prompt ids for the manifest's records, in order."""
    for i, (ids, want) in enumerate(zip(rendered, manifest["digests"])):
        if digest(ids) != want:
            why = []
            for field in ("template", "model_type", "max_source_length"):
                if manifest.get(field) is not None and w.get(field) != manifest[field]:
                    why.append(f"{field}: {w.get(field)} here, {manifest[field]} in training")
            raise UserError(
                f"with.template: predict renders training record {i} ({str(manifest['records'][i].get('input'))[:60]!r}) "
                f"into other token ids than sft trained on ({'; '.join(why) or 'same settings: the prompt code differs'}); "
                f"the model would be asked in a format it did not learn. Set check_prompts: false to predict anyway")
