"""python:tokenize (tokenize_records.py: a script named tokenize.py here would shadow the standard library's
tokenize module for every step): training records to token ids once, for every python:sft that trains on them.

A step of its own rather than part of the data step: the ids depend on the model's tokenizer and
the template (Python code), which the data step (TypeScript, model-agnostic) knows nothing of, and
as its own cached step it is shared by every sft leg with the same tokenizer, template and lengths,
whatever their training settings. Packing is left to sft (it regroups these examples at load time
in well under a second), so packed and unpacked legs share the same ids too.
"""

from __future__ import annotations

import time

from flow_runtime import events, log, main, read_records, write_json
from flow_runtime.data import encode_all, with_system
from flow_runtime.modeling import load_tokenizer
from flow_runtime.tokenized import save, tokenizer_digest


def run(p) -> None:
    w = p.with_
    t0 = time.time()
    tokenizer = load_tokenizer(w["model"])
    splits = {"train": encode_all(w, with_system(read_records(w["train_file"], "train_file", need_output=True), w["system"]), tokenizer)}
    if w.get("eval_file"):
        splits["eval"] = encode_all(w, with_system(read_records(w["eval_file"], "eval_file", need_output=True), w["system"]), tokenizer)
    elapsed = time.time() - t0
    meta = {k: w[k] for k in ("model_type", "template", "max_source_length", "max_target_length")}
    meta["tokenizer_digest"] = tokenizer_digest(w["model"])
    save(p.output("dataset"), meta, splits)
    tokens = sum(len(x["input_ids"]) for x in splits["train"])
    metrics = {"examples": len(splits["train"]), "tokens": tokens,
               "eval_examples": len(splits.get("eval", [])), "tokenize_seconds": round(elapsed, 2)}
    write_json(p.output("metrics"), metrics)
    events.metric("tokens", tokens)
    log(f"tokenize: {len(splits['train'])} examples, {tokens} tokens in {elapsed:.1f}s")


if __name__ == "__main__":
    main("tokenize", run)
