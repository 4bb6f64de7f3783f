"""predict's pure parts: decoding settings, the vLLM LoRA rank, and prompts cut
as in training (T5 keeps the question and its </s>)."""

import json
from pathlib import Path

from transformers import AutoTokenizer

from flow_runtime.prompting import encode_seq2seq, truncate_seq2seq_source
from predict import adapter_rank, decoding, encode_prompts, generated_tokens, length_batches

FIX = Path(__file__).resolve().parent / "fixtures"
RECORDS = json.loads((FIX / "template_records.json").read_text(encoding="utf-8"))
SAMPLING = {"temperature": 0.95, "top_p": 0.7, "top_k": 50, "num_beams": 1, "repetition_penalty": 1.0}


def test_greedy_is_the_default_and_carries_no_sampling_settings():
    assert decoding({"do_sample": False, **SAMPLING}) == {"do_sample": False, "num_beams": 1}


def test_sampling_passes_its_settings():
    want = {k: v for k, v in SAMPLING.items() if k != "repetition_penalty"}
    assert decoding({"do_sample": True, **SAMPLING}) == {"do_sample": True, **want}


def test_repetition_penalty_reaches_generate_greedy_or_sampled():
    for sample in (False, True):
        assert decoding({**SAMPLING, "do_sample": sample, "repetition_penalty": 1.1})["repetition_penalty"] == 1.1


def test_vllm_lora_rank_is_the_adapters_largest(tmp_path):
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 32, "rank_pattern": {"q_proj": 64}}))
    assert adapter_rank(str(tmp_path)) == 64


def test_causal_prompts_keep_their_end_as_training_does():
    tok = AutoTokenizer.from_pretrained(FIX / "bpe")
    w = {"model_type": "causal", "template": "qwen", "max_source_length": 16}
    [ids] = encode_prompts(w, RECORDS[:1], tok)
    assert len(ids) == 16
    assert tok.decode(ids).endswith("<|im_start|>assistant\n")


def test_t5_source_keeps_its_end_and_eos():
    tok = AutoTokenizer.from_pretrained(FIX / "sp")  # eos </s>
    ids = list(range(100, 120)) + [tok.eos_token_id]
    assert truncate_seq2seq_source(ids, tok, 8) == list(range(113, 120)) + [tok.eos_token_id]
    assert truncate_seq2seq_source(ids, tok, 50) == ids


def test_t5_predict_cuts_the_encoder_input_as_training_does():
    tok = AutoTokenizer.from_pretrained(FIX / "sp")
    w = {"model_type": "seq2seq", "max_source_length": 12}
    [src] = encode_prompts(w, RECORDS[:1], tok)
    assert src == encode_seq2seq(RECORDS[0], tok, 12, 64)["input_ids"]
    assert len(src) == 12
    assert tok.decode(src).endswith("###Response:")  # the question's end, not the schema's start


def test_length_batches_group_similar_lengths_and_cover_every_prompt_once():
    prompts = [[1] * n for n in (5, 1, 9, 3, 7)]
    assert length_batches(prompts, 2, by_length=True) == [[1, 3], [0, 4], [2]]
    assert length_batches(prompts, 2, by_length=False) == [[0, 1], [2, 3], [4]]


def test_generated_tokens_stop_at_the_first_stop_token():
    import torch

    rows = torch.tensor([[5, 6, 2, 2, 2], [5, 6, 7, 8, 9], [3, 2, 5, 2, 2]])
    assert generated_tokens(rows, [2]) == 3 + 5 + 2
    assert generated_tokens(rows, 9) == 5 + 5 + 5
