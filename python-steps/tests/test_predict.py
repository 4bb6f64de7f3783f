"""predict's pure parts: decoding settings, the vLLM LoRA rank, and prompts cut
as in training (T5 keeps the question and its </s>)."""

import json
from pathlib import Path

from transformers import AutoTokenizer

from predict import adapter_rank, decoding, encode_prompts
from prompting import encode_seq2seq, truncate_seq2seq_source

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
