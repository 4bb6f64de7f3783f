"""python:merge: folds a LoRA adapter into its base model (peft merge_and_unload)
and saves a standard transformers folder (safetensors) with the tokenizer."""

from __future__ import annotations

import shutil
from pathlib import Path

from flow_runtime import UserError, events, log, main, write_json
from flow_runtime.modeling import adapter_is_seq2seq, attach_adapter, auto_class, dtype_of
from flow_runtime.parity import MANIFEST


def _configs(model):
    return [c for c in (model.config, getattr(model.config, "text_config", None)) if c is not None]


def ties_embeddings(model) -> bool:
    return any(getattr(c, "tie_word_embeddings", False) for c in _configs(model))


def untie_if_diverged(model, was_tied: bool) -> bool:
    """An adapter that trained embed_tokens / lm_head (modules_to_save) leaves two
    different matrices where the base model tied one; saved as tied, the loaded
    model would silently use one for both and differ from base + adapter. (peft
    unties the config itself, with a warning flow_runtime.quiet silences: the step's
    line says it once, in flow's words.) True when it untied them."""
    inp, out = model.get_input_embeddings(), model.get_output_embeddings()
    if not was_tied or inp is None or out is None or inp.weight is out.weight:
        return False
    for cfg in _configs(model):
        cfg.tie_word_embeddings = False
    return True


def run(p) -> None:
    from transformers import AutoTokenizer

    w = p.with_
    adapter = Path(w["adapter"])
    if not (adapter / "adapter_config.json").is_file():
        raise UserError(f"with.adapter: {adapter} is not a PEFT adapter folder (no adapter_config.json)")
    base = w["base"]
    model = auto_class(adapter_is_seq2seq(str(adapter))).from_pretrained(base, dtype=dtype_of(w["dtype"]))
    was_tied = ties_embeddings(model)
    model = attach_adapter(model, str(adapter)).merge_and_unload()
    untied = untie_if_diverged(model, was_tied)
    out = p.output("model")
    model.save_pretrained(str(out), safe_serialization=True)
    # The adapter folder carries the tokenizer the adapter was trained with.
    tok_src = adapter if (adapter / "tokenizer_config.json").is_file() else Path(base)
    AutoTokenizer.from_pretrained(str(tok_src)).save_pretrained(str(out))
    # The prompts sft trained on go with the model, for predict's parity check.
    if (adapter / MANIFEST).is_file():
        shutil.copyfile(adapter / MANIFEST, out / MANIFEST)
    n = sum(t.numel() for t in model.parameters())
    log(f"merge: {adapter} into {base}: {n / 1e6:.2f}M parameters, saved to {out}"
        + ("; the adapter trained the embeddings apart from lm_head, so they are saved untied" if untied else ""))
    events.artifact("model", out)
    write_json(p.output("metrics"), {"parameters": n})


if __name__ == "__main__":
    main("merge", run)
