"""python:merge: folds a LoRA adapter into its base model (peft merge_and_unload)
and saves a standard transformers folder (safetensors) with the tokenizer."""

from __future__ import annotations

from pathlib import Path

from flow_runtime import UserError, events, log, main, write_json
from flow_runtime.modeling import adapter_is_seq2seq, attach_adapter, auto_class, dtype_of


def untie_if_diverged(model) -> None:
    """An adapter that trained embed_tokens / lm_head (modules_to_save) leaves two
    different matrices where the base model tied one; saved as tied, the loaded
    model would silently use one for both and differ from base + adapter."""
    inp, out = model.get_input_embeddings(), model.get_output_embeddings()
    if inp is None or out is None or inp.weight is out.weight:
        return
    for cfg in (model.config, getattr(model.config, "text_config", None)):
        if cfg is not None and getattr(cfg, "tie_word_embeddings", False):
            cfg.tie_word_embeddings = False
            log("merge: the adapter trained the embeddings apart from lm_head; saving them untied")


def run(p) -> None:
    from transformers import AutoTokenizer

    w = p.with_
    adapter = Path(w["adapter"])
    if not (adapter / "adapter_config.json").is_file():
        raise UserError(f"with.adapter: {adapter} is not a PEFT adapter folder (no adapter_config.json)")
    base = w["base"]
    model = auto_class(adapter_is_seq2seq(str(adapter))).from_pretrained(base, dtype=dtype_of(w["dtype"]))
    model = attach_adapter(model, str(adapter)).merge_and_unload()
    untie_if_diverged(model)
    out = p.output("model")
    model.save_pretrained(str(out), safe_serialization=True)
    # The adapter folder carries the tokenizer the adapter was trained with.
    tok_src = adapter if (adapter / "tokenizer_config.json").is_file() else Path(base)
    AutoTokenizer.from_pretrained(str(tok_src)).save_pretrained(str(out))
    n = sum(t.numel() for t in model.parameters())
    log(f"merge: {adapter} into {base}: {n / 1e6:.2f}M parameters, saved to {out}")
    events.artifact("model", out)
    write_json(p.output("metrics"), {"parameters": n})


if __name__ == "__main__":
    main("merge", run)
