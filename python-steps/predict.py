"""python:predict: batched generation over the dev records.

Writes one SQL per line in dev order (cleaned as `clean` says, see
sql_clean.py) and a JSONL of the raw outputs. The model is a base model
(baseline), a merged model, or a base model plus a PEFT adapter. The prompt is
encoded exactly as in training (prompting.prompt_ids) and cut the same way
(its last max_source_length tokens). Decoding is greedy unless the recipe says
otherwise (do_sample, temperature, top_p, num_beams). HF generate by default;
vLLM when asked for (engine: vllm) and installed. HF batches prompts of similar
length together (sort_by_length) and writes the answers back in dev order;
metrics separate model loading from generation (items/s and tokens/s)."""

from __future__ import annotations

import json
import time

from flow_runtime import UserError, cuda_available, events, log, main, read_records, require_module, write_json
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
    if w["do_sample"]:
        d |= {"temperature": w["temperature"], "top_p": w["top_p"], "top_k": w["top_k"]}
    return d


def length_batches(prompts: list[list[int]], size: int, by_length: bool) -> list[list[int]]:
    """Indices of the prompts in batches of `size`: shortest first when `by_length` (less left padding,
    and the long prompts share batches), else in dev order."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i])) if by_length else list(range(len(prompts)))
    return [order[i:i + size] for i in range(0, len(order), size)]


def generated_tokens(rows, stops) -> int:
    """Tokens generated up to and including each row's first stop token (the padding after it not counted)."""
    stops = set(stops if isinstance(stops, list) else [stops])
    n = 0
    for row in rows:
        row = row.tolist()
        n += next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
    return n


def generate_hf(w: dict, records: list[dict], stats: dict) -> list[str]:
    import torch

    seq2seq = w["model_type"] == "seq2seq"
    tokenizer = load_tokenizer(w.get("adapter") or w["model"], fallback=w["model"])
    # Left padding keeps every prompt's end next to its generated tokens.
    tokenizer.padding_side = "right" if seq2seq else "left"
    device = "cuda" if cuda_available() else "cpu"
    t_load = time.time()
    model = auto_class(seq2seq).from_pretrained(w["model"], dtype=dtype_of(w["dtype"])).to(device)
    if w.get("adapter"):
        model = attach_adapter(model, w["adapter"])
    model.eval()
    stats["load_seconds"] = time.time() - t_load
    if w["do_sample"]:
        torch.manual_seed(w["seed"])
    prompts = encode_prompts(w, records, tokenizer)
    stops = tokenizer.eos_token_id if seq2seq else stop_token_ids(w["template"], tokenizer)
    outputs: list[str] = [""] * len(prompts)
    t0 = time.time()
    done = tokens = 0
    for idx in length_batches(prompts, w["batch_size"], w["sort_by_length"]):
        batch = tokenizer.pad({"input_ids": [prompts[i] for i in idx]}, padding=True, return_tensors="pt").to(device)
        with torch.no_grad():
            gen = model.generate(**batch, max_new_tokens=w["max_new_tokens"], **decoding(w),
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=stops)
        # A seq2seq output starts with the decoder's start token.
        new = gen[:, 1:] if seq2seq else gen[:, batch["input_ids"].shape[1]:]
        tokens += generated_tokens(new, stops)
        for i, text in zip(idx, tokenizer.batch_decode(new, skip_special_tokens=True)):
            outputs[i] = text
        done += len(idx)
        events.progress(done, len(prompts), "item", items_per_s=round(done / max(time.time() - t0, 1e-6), 2))
    stats["generated_tokens"] = tokens
    return outputs


def adapter_rank(adapter: str) -> int:
    """The largest LoRA rank in an adapter's config (vLLM refuses ranks above max_lora_rank)."""
    from pathlib import Path

    cfg = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    return max([int(cfg.get("r") or 8), *(int(v) for v in (cfg.get("rank_pattern") or {}).values())])


def generate_vllm(w: dict, records: list[dict], stats: dict) -> list[str]:
    require_module("vllm", "with.engine: vllm")
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.lora.request import LoRARequest

    tokenizer = load_tokenizer(w.get("adapter") or w["model"], fallback=w["model"])
    lora = {}
    if w.get("adapter"):
        lora = {"enable_lora": True, "max_lora_rank": adapter_rank(w["adapter"])}
    t_load = time.time()
    llm = LLM(model=w["model"], tokenizer=w.get("adapter") or w["model"], dtype=w["dtype"],
              tensor_parallel_size=w["tp"], max_model_len=w["max_source_length"] + w["max_new_tokens"],
              seed=w["seed"], **lora)
    stats["load_seconds"] = time.time() - t_load
    request = LoRARequest("adapter", 1, w["adapter"]) if w.get("adapter") else None
    d = decoding(w)
    if d["num_beams"] > 1:
        raise UserError("with.num_beams: beam search is not offered with engine: vllm; use engine: hf")
    sampling = ({"temperature": w["temperature"], "top_p": w["top_p"], "top_k": w["top_k"]} if w["do_sample"]
                else {"temperature": 0.0})
    params = SamplingParams(max_tokens=w["max_new_tokens"], stop_token_ids=stop_token_ids(w["template"], tokenizer),
                            **sampling)
    # Token ids, not text: vLLM would add a second BOS to a prompt whose template already has one.
    prompts = [TokensPrompt(prompt_token_ids=ids) for ids in encode_prompts(w, records, tokenizer)]
    result = llm.generate(prompts, params, lora_request=request)
    events.progress(len(result), len(records), "item")
    stats["generated_tokens"] = sum(len(r.outputs[0].token_ids) for r in result)
    return [r.outputs[0].text for r in result]


def run(p) -> None:
    w = p.with_
    if w["engine"] == "vllm" and w["model_type"] == "seq2seq":
        raise UserError("with.engine: vllm serves causal models; use engine: hf with model_type: seq2seq")
    records = read_records(w["dev_file"], "dev_file")
    if w["limit"]:
        records = records[:w["limit"]]
    t0 = time.time()
    stats: dict = {}
    raw = generate_vllm(w, records, stats) if w["engine"] == "vllm" else generate_hf(w, records, stats)
    elapsed = time.time() - t0
    # Rates over generation alone: loading the model is a constant, reported on its own.
    gen_s = max(elapsed - stats["load_seconds"], 1e-6)
    preds = [clean(t, w["clean"]) for t in raw]
    pred_path = p.output("predictions")
    pred_path.write_text("".join(s + "\n" for s in preds), encoding="utf-8")
    with p.output("raw").open("w", encoding="utf-8") as f:
        for r, text, sql in zip(records, raw, preds):
            f.write(json.dumps({"db_id": r.get("db_id"), "question": r.get("input"), "raw": text, "sql": sql}) + "\n")
    # The decoding and clean-up used go under "settings": flow reads the rest as metrics.
    write_json(p.output("metrics"), {"items": len(preds), "predict_seconds": round(elapsed, 2),
                                     "load_seconds": round(stats["load_seconds"], 2),
                                     "items_per_s": round(len(preds) / gen_s, 3),
                                     "tokens_per_s": round(stats["generated_tokens"] / gen_s, 1),
                                     "settings": {"decoding": decoding(w), "clean": w["clean"]}})
    events.artifact("predictions", pred_path)
    log(f"predict: {len(preds)} predictions in {elapsed:.1f}s ({'sampled' if w['do_sample'] else 'greedy'}, "
        f"clean: {w['clean']}) -> {pred_path}")


if __name__ == "__main__":
    main("predict", run)
