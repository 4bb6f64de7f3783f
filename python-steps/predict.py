"""python:predict: batched generation over the dev records.

Writes one SQL per line in dev order (cleaned as `clean` says, see
flow_runtime/sql_clean.py) and a JSONL of the raw outputs. The model is a base model
(baseline), a merged model, or a base model plus a PEFT adapter. The prompt is
encoded exactly as in training (flow_runtime.prompting.prompt_ids) and cut the same way
(its last max_source_length tokens). Decoding is greedy unless the recipe says
otherwise (do_sample, temperature, top_p, num_beams). HF generate by default;
vLLM when asked for (engine: vllm) and installed.

num_samples: N > 1 samples N candidates per prompt in the same generation and
writes them all, with their log-probabilities, to candidates.jsonl (for the
sql-vote step); retry_on_error: k asks an item again, up to k times, when all
its candidates fail to run on its database (flow_runtime/candidates.py).
HF batches prompts of similar length together (sort_by_length) and writes the
answers back in dev order; metrics separate model loading from generation
(items/s and tokens/s)."""

from __future__ import annotations

import json
import time

from flow_runtime import UserError, cuda_available, events, log, main, parity, read_records, require_module, write_json
from flow_runtime.candidates import DEFAULT_FOLLOW_UP, LogprobRecorder, SqlChecker, follow_up_record, sampling_settings
from flow_runtime.data import with_system
from flow_runtime.modeling import attach_adapter, auto_class, dtype_of, load_tokenizer
from flow_runtime.prompting import encode_seq2seq_source, prompt_ids, stop_token_ids
from flow_runtime.sql_clean import clean


def encode_prompts(w: dict, records: list[dict], tokenizer) -> list[list[int]]:
    """Token ids per record, already cut to max_source_length as in training."""
    if w["model_type"] == "seq2seq":
        return [encode_seq2seq_source(r, tokenizer, w["max_source_length"]) for r in records]
    return [prompt_ids(r, w["template"], tokenizer)[-w["max_source_length"]:] for r in records]


def decoding(w: dict) -> dict:
    """generate() settings: greedy by default; sampling when do_sample is set or num_samples > 1."""
    d = sampling_settings(w)
    d = {k: v for k, v in d.items() if k not in ("seed", "num_samples")}
    if w["repetition_penalty"] != 1.0:
        d["repetition_penalty"] = w["repetition_penalty"]
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


Candidates = list[list[tuple[str, float]]]


def generate_hf(w: dict, stats: dict):
    """Loads the model once; returns generate(records) -> [(text, log-probability)] * N per record.
    Prompts of similar length share a batch (sort_by_length); answers come back in dev order."""
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
    d = decoding(w)
    if d["do_sample"]:
        torch.manual_seed(w["seed"])
    n = w.get("num_samples") or 1
    stops = tokenizer.eos_token_id if seq2seq else stop_token_ids(w["template"], tokenizer)
    stop_set = {stops} if isinstance(stops, int) else set(stops)

    def generate(records: list[dict]) -> Candidates:
        prompts = encode_prompts(w, records, tokenizer)
        outputs: Candidates = [[] for _ in prompts]
        t0 = time.time()
        done = 0
        for idx in length_batches(prompts, w["batch_size"], w["sort_by_length"]):
            batch = tokenizer.pad({"input_ids": [prompts[i] for i in idx]}, padding=True, return_tensors="pt").to(device)
            # The decoder's output starts after the prompt (causal) or after its start token (seq2seq).
            recorder = LogprobRecorder(1 if seq2seq else batch["input_ids"].shape[1])
            with torch.no_grad():
                gen = model.generate(**batch, max_new_tokens=w["max_new_tokens"], **d, num_return_sequences=n,
                                     logits_processor=[recorder], pad_token_id=tokenizer.pad_token_id,
                                     eos_token_id=stops)
            new = gen[:, 1:] if seq2seq else gen[:, batch["input_ids"].shape[1]:]
            stats["generated_tokens"] = stats.get("generated_tokens", 0) + generated_tokens(new, stops)
            texts = tokenizer.batch_decode(new, skip_special_tokens=True)
            lps = recorder.totals(gen, stop_set)
            # num_return_sequences keeps each prompt's N samples together, in the batch's order.
            for k, i in enumerate(idx):
                outputs[i] = list(zip(texts[k * n:(k + 1) * n], lps[k * n:(k + 1) * n]))
            done += len(idx)
            events.progress(done, len(prompts), "item", items_per_s=round(done / max(time.time() - t0, 1e-6), 2))
        return outputs

    return generate


def adapter_rank(adapter: str) -> int:
    """The largest LoRA rank in an adapter's config (vLLM refuses ranks above max_lora_rank)."""
    from pathlib import Path

    cfg = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
    return max([int(cfg.get("r") or 8), *(int(v) for v in (cfg.get("rank_pattern") or {}).values())])


def generate_vllm(w: dict, stats: dict):
    """Loads the engine once; returns generate(records) -> [(text, log-probability)] * N per record."""
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
    sampling = ({"temperature": w["temperature"], "top_p": w["top_p"], "top_k": w["top_k"], "seed": w["seed"]}
                if d["do_sample"] else {"temperature": 0.0})
    # n samples per prompt in one request; logprobs=0 makes vLLM report each candidate's cumulative log-probability.
    params = SamplingParams(max_tokens=w["max_new_tokens"], stop_token_ids=stop_token_ids(w["template"], tokenizer),
                            repetition_penalty=w["repetition_penalty"], n=w.get("num_samples") or 1, logprobs=0,
                            **sampling)

    def generate(records: list[dict]) -> Candidates:
        # Token ids, not text: vLLM would add a second BOS to a prompt whose template already has one.
        prompts = [TokensPrompt(prompt_token_ids=ids) for ids in encode_prompts(w, records, tokenizer)]
        result = llm.generate(prompts, params, lora_request=request)
        events.progress(len(result), len(records), "item")
        stats["generated_tokens"] = stats.get("generated_tokens", 0) + sum(len(o.token_ids) for r in result for o in r.outputs)
        return [[(o.text, float(o.cumulative_logprob or 0.0)) for o in r.outputs] for r in result]

    return generate


def run(p) -> None:
    w = p.with_
    if w["engine"] == "vllm" and w["model_type"] == "seq2seq":
        raise UserError("with.engine: vllm serves causal models; use engine: hf with model_type: seq2seq")
    records = with_system(read_records(w["dev_file"], "dev_file"), w["system"])
    if w["limit"]:
        records = records[:w["limit"]]
    digests, parity_state = check_prompts(w, records)
    t0 = time.time()
    stats: dict = {}
    generate = generate_vllm(w, stats) if w["engine"] == "vllm" else generate_hf(w, stats)
    cands = [[{"raw": text, "sql": clean(text, w["clean"]), "logprob": round(lp, 6), "round": 0} for text, lp in c]
             for c in generate(records)]
    elapsed = time.time() - t0
    # Rates over generation alone: loading the model is a constant, reported on its own.
    gen_s = max(elapsed - stats["load_seconds"], 1e-6)
    gen_tokens = stats.get("generated_tokens", 0)  # before any repair round adds its own
    t1 = time.time()
    retried = repair(w, records, cands, generate) if w.get("retry_on_error") else 0
    repair_s = time.time() - t1
    # The answer of the last round each item was asked in (its repair, if any), first candidate.
    chosen = [[c for c in cs if c["round"] == cs[-1]["round"]][0] for cs in cands]
    preds = [c["sql"] for c in chosen]
    pred_path = p.output("predictions")
    pred_path.write_text("".join(s + "\n" for s in preds), encoding="utf-8")
    with p.output("raw").open("w", encoding="utf-8") as f:
        for r, c in zip(records, chosen):
            f.write(json.dumps({"db_id": r.get("db_id"), "question": r.get("input"), "raw": c["raw"], "sql": c["sql"]}) + "\n")
    with p.output("candidates").open("w", encoding="utf-8") as f:
        for i, (r, cs) in enumerate(zip(records, cands)):
            f.write(json.dumps({"index": i, "db_id": r.get("db_id"), "question": r.get("input"),
                                "prompt_digest": digests[i], "candidates": cs}) + "\n")
    # The decoding and clean-up used go under "settings": flow reads the rest as metrics.
    settings = {"decoding": decoding(w), "clean": w["clean"]}
    if (w.get("num_samples") or 1) > 1 or sampling_settings(w)["do_sample"]:
        settings["sampling"] = sampling_settings(w)
    write_json(p.output("metrics"), {"items": len(preds), "candidates": sum(len(c) for c in cands),
                                     "retried_items": retried, "predict_seconds": round(elapsed, 2),
                                     "load_seconds": round(stats["load_seconds"], 2),
                                     "items_per_s": round(len(preds) / gen_s, 3),
                                     "tokens_per_s": round(gen_tokens / gen_s, 1),
                                     "repair_seconds": round(repair_s, 2), "prompt_parity": parity_state,
                                     "settings": settings})
    events.artifact("predictions", pred_path)
    log(f"predict: {len(preds)} predictions in {elapsed:.1f}s ({'sampled' if decoding(w)['do_sample'] else 'greedy'}, "
        f"clean: {w['clean']}) -> {pred_path}")


def check_prompts(w: dict, records: list[dict]) -> tuple[list[str], str]:
    """Each dev prompt's token-id digest (recorded in candidates.jsonl), once the training
    records sft left beside the model render here into the ids it trained on
    (flow_runtime/parity.py; a difference stops the step). The ids are the ones both
    engines receive, computed on the CPU."""
    tokenizer = load_tokenizer(w.get("adapter") or w["model"], fallback=w["model"])
    manifest = parity.find_manifest(w.get("adapter"), w["model"])
    if not w["check_prompts"]:
        state = "off"
    elif manifest is None:
        state = "no record"
        log(f"predict: no {parity.MANIFEST} beside the model (not trained by flow's sft): prompt parity not checked")
    else:
        parity.check(manifest, w, encode_prompts(w, manifest["records"], tokenizer))
        state = "checked"
    return [parity.digest(ids) for ids in encode_prompts(w, records, tokenizer)], state


def repair(w: dict, records: list[dict], cands: list[list[dict]], generate) -> int:
    """retry_on_error: an item none of whose latest candidates runs on its database is
    asked again, its first failed SQL and the database's error in a follow-up turn, up to
    retry_on_error times. New candidates are appended (round 1, 2, ...). Returns how
    many items were asked again at least once."""
    checker = SqlChecker(w["db_dir"], w["sql_timeout_s"])
    wording = w.get("follow_up") or DEFAULT_FOLLOW_UP
    asked: set[int] = set()
    convo = list(records)
    try:
        for rnd in range(1, w["retry_on_error"] + 1):
            failing = []
            for i, cs in enumerate(cands):
                latest = [c for c in cs if c["round"] == rnd - 1]
                for c in latest:
                    c["error"] = checker.error(records[i].get("db_id") or "", c["sql"])
                if latest and all(c["error"] is not None for c in latest):
                    failing.append(i)
            if not failing:
                break
            for i in failing:
                first = [c for c in cands[i] if c["round"] == rnd - 1][0]
                convo[i] = follow_up_record(convo[i], first["sql"], first["error"], wording)
            asked.update(failing)
            log(f"predict: round {rnd}: {len(failing)} items whose candidates all fail asked again")
            for i, c in zip(failing, generate([convo[i] for i in failing])):
                cands[i] += [{"raw": t, "sql": clean(t, w["clean"]), "logprob": round(lp, 6), "round": rnd,
                              "prompt": convo[i]["input"]} for t, lp in c]
        for i, cs in enumerate(cands):
            for c in cs:
                if "error" not in c:
                    c["error"] = checker.error(records[i].get("db_id") or "", c["sql"])
    finally:
        checker.close()
    return len(asked)


if __name__ == "__main__":
    main("predict", run)
