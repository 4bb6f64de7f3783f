"""python:predict: batched generation over the dev records.

Writes one SQL per line in dev order (cleaned as `clean` says, see
sql_clean.py) and a JSONL of the raw outputs. The model is a base model
(baseline), a merged model, or a base model plus a PEFT adapter. The prompt is
encoded exactly as in training (prompting.prompt_ids) and cut the same way
(its last max_source_length tokens). Decoding is greedy unless the recipe says
otherwise (do_sample, temperature, top_p, num_beams). HF generate by default;
vLLM when asked for (engine: vllm) and installed."""

from __future__ import annotations

import json
import time

from flow_runtime import UserError, cuda_available, events, log, main, read_records, require_module, write_json
from flow_runtime.data import with_system
from flow_runtime.modeling import attach_adapter, auto_class, dtype_of, load_tokenizer
from prompting import encode_seq2seq_source, prompt_ids, stop_token_ids
from sql_clean import clean


def encode_prompts(w: dict, records: list[dict], tokenizer) -> list[list[int]]:
    """Token ids per record, already cut to max_source_length as in training."""
    if w["model_type"] == "seq2seq":
        return [encode_seq2seq_source(r, tokenizer, w["max_source_length"]) for r in records]
    return [prompt_ids(r, w["template"], tokenizer)[-w["max_source_length"]:] for r in records]


def decoding(w: dict) -> dict:
    """generate() settings: greedy by default; sampling only when do_sample is set."""
    d = {"do_sample": w["do_sample"], "num_beams": w["num_beams"]}
    if w["repetition_penalty"] != 1.0:
        d["repetition_penalty"] = w["repetition_penalty"]
    if w["do_sample"]:
        d |= {"temperature": w["temperature"], "top_p": w["top_p"], "top_k": w["top_k"]}
    return d


def generate_hf(w: dict, records: list[dict]) -> list[str]:
    import torch

    seq2seq = w["model_type"] == "seq2seq"
    tokenizer = load_tokenizer(w.get("adapter") or w["model"], fallback=w["model"])
    # Left padding keeps every prompt's end next to its generated tokens.
    tokenizer.padding_side = "right" if seq2seq else "left"
    device = "cuda" if cuda_available() else "cpu"
    model = auto_class(seq2seq).from_pretrained(w["model"], dtype=dtype_of(w["dtype"])).to(device)
    if w.get("adapter"):
        model = attach_adapter(model, w["adapter"])
    model.eval()
    if w["do_sample"]:
        torch.manual_seed(w["seed"])
    prompts = encode_prompts(w, records, tokenizer)
    stops = tokenizer.eos_token_id if seq2seq else stop_token_ids(w["template"], tokenizer)
    outputs: list[str] = []
    t0 = time.time()
    bs = w["batch_size"]
    for i in range(0, len(prompts), bs):
        batch = tokenizer.pad({"input_ids": prompts[i:i + bs]}, padding=True, return_tensors="pt").to(device)
        with torch.no_grad():
            gen = model.generate(**batch, max_new_tokens=w["max_new_tokens"], **decoding(w),
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=stops)
        new = gen if seq2seq else gen[:, batch["input_ids"].shape[1]:]
        outputs += tokenizer.batch_decode(new, skip_special_tokens=True)
        done = len(outputs)
        events.progress(done, len(prompts), "item", items_per_s=round(done / max(time.time() - t0, 1e-6), 2))
    return outputs


def adapter_rank(adapter: str) -> int:
    """The largest LoRA rank in an adapter's config (vLLM refuses ranks above max_lora_rank)."""
    from pathlib import Path

    cfg = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    return max([int(cfg.get("r") or 8), *(int(v) for v in (cfg.get("rank_pattern") or {}).values())])


def generate_vllm(w: dict, records: list[dict]) -> list[str]:
    require_module("vllm", "with.engine: vllm")
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.lora.request import LoRARequest

    tokenizer = load_tokenizer(w.get("adapter") or w["model"], fallback=w["model"])
    lora = {}
    if w.get("adapter"):
        lora = {"enable_lora": True, "max_lora_rank": adapter_rank(w["adapter"])}
    llm = LLM(model=w["model"], tokenizer=w.get("adapter") or w["model"], dtype=w["dtype"],
              tensor_parallel_size=w["tp"], max_model_len=w["max_source_length"] + w["max_new_tokens"],
              seed=w["seed"], **lora)
    request = LoRARequest("adapter", 1, w["adapter"]) if w.get("adapter") else None
    d = decoding(w)
    if d["num_beams"] > 1:
        raise UserError("with.num_beams: beam search is not offered with engine: vllm; use engine: hf")
    sampling = ({"temperature": w["temperature"], "top_p": w["top_p"], "top_k": w["top_k"]} if w["do_sample"]
                else {"temperature": 0.0})
    params = SamplingParams(max_tokens=w["max_new_tokens"], stop_token_ids=stop_token_ids(w["template"], tokenizer),
                            repetition_penalty=w["repetition_penalty"], **sampling)
    # Token ids, not text: vLLM would add a second BOS to a prompt whose template already has one.
    prompts = [TokensPrompt(prompt_token_ids=ids) for ids in encode_prompts(w, records, tokenizer)]
    result = llm.generate(prompts, params, lora_request=request)
    events.progress(len(result), len(records), "item")
    return [r.outputs[0].text for r in result]


def run(p) -> None:
    w = p.with_
    if w["engine"] == "vllm" and w["model_type"] == "seq2seq":
        raise UserError("with.engine: vllm serves causal models; use engine: hf with model_type: seq2seq")
    records = with_system(read_records(w["dev_file"], "dev_file"), w["system"])
    if w["limit"]:
        records = records[:w["limit"]]
    t0 = time.time()
    raw = generate_vllm(w, records) if w["engine"] == "vllm" else generate_hf(w, records)
    elapsed = time.time() - t0
    preds = [clean(t, w["clean"]) for t in raw]
    pred_path = p.output("predictions")
    pred_path.write_text("".join(s + "\n" for s in preds), encoding="utf-8")
    with p.output("raw").open("w", encoding="utf-8") as f:
        for r, text, sql in zip(records, raw, preds):
            f.write(json.dumps({"db_id": r.get("db_id"), "question": r.get("input"), "raw": text, "sql": sql}) + "\n")
    # The decoding and clean-up used go under "settings": flow reads the rest as metrics.
    write_json(p.output("metrics"), {"items": len(preds), "predict_seconds": round(elapsed, 2),
                                     "items_per_s": round(len(preds) / max(elapsed, 1e-6), 3),
                                     "settings": {"decoding": decoding(w), "clean": w["clean"]}})
    events.artifact("predictions", pred_path)
    log(f"predict: {len(preds)} predictions in {elapsed:.1f}s ({'sampled' if w['do_sample'] else 'greedy'}, "
        f"clean: {w['clean']}) -> {pred_path}")


if __name__ == "__main__":
    main("predict", run)
