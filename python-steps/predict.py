"""python:predict: batched greedy generation over the dev records.

Writes one SQL per line in dev order (newlines flattened, code fences and
prose stripped) and a JSONL of the raw outputs. The model is a base model
(baseline), a merged model, or a base model plus a PEFT adapter. HF generate by
default; vLLM when asked for (engine: vllm) and installed."""

from __future__ import annotations

import json
import re
import time

from flow_runtime import UserError, cuda_available, events, log, main, read_records, require_module, write_json
from prompting import render, user_text

FENCE = re.compile(r"```(?:sql|SQL)?\s*(.*?)(?:```|$)", re.S)
SQL_START = re.compile(r"\b(SELECT|WITH)\b", re.I)


def clean_sql(text: str) -> str:
    """The first SQL statement of a model's answer, on one line."""
    m = FENCE.search(text)
    if m:
        text = m.group(1)
    s = SQL_START.search(text)
    if s:
        text = text[s.start():]
    text = text.split(";")[0]
    text = " ".join(text.split())
    # An empty line would shift every later prediction against the gold file.
    return text or "SELECT"


def prompts_for(w: dict, records: list[dict], tokenizer) -> list[str]:
    if w["model_type"] == "seq2seq":
        return [user_text(r) for r in records]
    return [render(r, w["template"], tokenizer)[0] for r in records]


def generate_hf(w: dict, records: list[dict]) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    seq2seq = w["model_type"] == "seq2seq"
    tok_src = w.get("adapter") or w["model"]
    try:
        tokenizer = AutoTokenizer.from_pretrained(tok_src)
    except (OSError, ValueError):
        tokenizer = AutoTokenizer.from_pretrained(w["model"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # Left padding keeps every prompt's end next to its generated tokens.
    tokenizer.padding_side = "right" if seq2seq else "left"
    tokenizer.truncation_side = "left"
    auto = AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM
    device = "cuda" if cuda_available() else "cpu"
    dtype = {"auto": "auto", "float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[w["dtype"]]
    model = auto.from_pretrained(w["model"], dtype=dtype).to(device)
    if w.get("adapter"):
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, w["adapter"])
    model.eval()
    prompts = prompts_for(w, records, tokenizer)
    outputs: list[str] = []
    t0 = time.time()
    bs = w["batch_size"]
    for i in range(0, len(prompts), bs):
        batch = tokenizer(prompts[i:i + bs], return_tensors="pt", padding=True, truncation=True,
                          max_length=w["max_source_length"], add_special_tokens=seq2seq).to(device)
        with torch.no_grad():
            gen = model.generate(**batch, max_new_tokens=w["max_new_tokens"], do_sample=False, num_beams=1,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        new = gen if seq2seq else gen[:, batch["input_ids"].shape[1]:]
        outputs += tokenizer.batch_decode(new, skip_special_tokens=True)
        done = len(outputs)
        events.progress(done, len(prompts), "item", items_per_s=round(done / max(time.time() - t0, 1e-6), 2))
    return outputs


def generate_vllm(w: dict, records: list[dict]) -> list[str]:
    require_module("vllm", "with.engine: vllm")
    from transformers import AutoTokenizer
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    tokenizer = AutoTokenizer.from_pretrained(w.get("adapter") or w["model"])
    llm = LLM(model=w["model"], enable_lora=bool(w.get("adapter")), dtype=w["dtype"],
              tensor_parallel_size=w["tp"], max_model_len=w["max_source_length"] + w["max_new_tokens"])
    lora = LoRARequest("adapter", 1, w["adapter"]) if w.get("adapter") else None
    params = SamplingParams(temperature=0, max_tokens=w["max_new_tokens"])
    result = llm.generate(prompts_for(w, records, tokenizer), params, lora_request=lora)
    events.progress(len(result), len(records), "item")
    return [r.outputs[0].text for r in result]


def run(p) -> None:
    w = p.with_
    if w["engine"] == "vllm" and w["model_type"] == "seq2seq":
        raise UserError("with.engine: vllm serves causal models; use engine: hf with model_type: seq2seq")
    records = read_records(w["dev_file"], "dev_file")
    if w["limit"]:
        records = records[:w["limit"]]
    t0 = time.time()
    raw = generate_vllm(w, records) if w["engine"] == "vllm" else generate_hf(w, records)
    elapsed = time.time() - t0
    preds = [clean_sql(t) for t in raw]
    pred_path = p.output("predictions")
    pred_path.write_text("".join(s + "\n" for s in preds), encoding="utf-8")
    with p.output("raw").open("w", encoding="utf-8") as f:
        for r, text, sql in zip(records, raw, preds):
            f.write(json.dumps({"db_id": r.get("db_id"), "question": r.get("input"), "raw": text, "sql": sql}) + "\n")
    write_json(p.output("metrics"), {"items": len(preds), "predict_seconds": round(elapsed, 2),
                                     "items_per_s": round(len(preds) / max(elapsed, 1e-6), 3)})
    events.artifact("predictions", pred_path)
    log(f"predict: {len(preds)} predictions in {elapsed:.1f}s -> {pred_path}")


if __name__ == "__main__":
    main("predict", run)
