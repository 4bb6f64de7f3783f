"""init-model's tiny models: each seed's architecture family with its chat format and special tokens."""

import pytest
import torch

from init_model import build_model, train_tokenizer

TEXTS = ["SELECT name FROM singer WHERE age > 30", "How many singers do we have?",
         "CREATE TABLE concert (id int, name text)"] * 20
W = {"seed": 0, "hidden_size": 32, "layers": 1, "heads": 2, "kv_heads": None, "intermediate_size": 64,
     "max_position": 256}
MESSAGES = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]


def tiny(arch):
    tok = train_tokenizer(TEXTS, 400, arch)
    return tok, build_model({**W, "arch": arch}, tok)


@pytest.mark.parametrize("arch,model_type", [("qwen2", "qwen2"), ("qwen3", "qwen3"), ("llama", "llama"), ("t5", "t5")])
def test_each_family_builds_and_runs(arch, model_type):
    tok, model = tiny(arch)
    assert model.config.model_type == model_type
    ids = tok("SELECT name", return_tensors="pt")
    kwargs = {"decoder_input_ids": ids["input_ids"]} if arch == "t5" else {}
    with torch.no_grad():
        assert model(**ids, **kwargs).logits.shape[-1] == len(tok)


def test_qwen_families_speak_chatml():
    qwen2, _ = tiny("qwen2")
    assert qwen2.eos_token == "<|im_end|>" and qwen2.pad_token == "<|endoftext|>"
    assert qwen2.apply_chat_template([MESSAGES[1]], tokenize=False, add_generation_prompt=True) == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n")
    qwen3, _ = tiny("qwen3")
    # Qwen3 has no default system turn, and <think> markers are single tokens.
    assert qwen3.apply_chat_template([MESSAGES[1]], tokenize=False, add_generation_prompt=True) == (
        "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n")
    assert qwen3.apply_chat_template([MESSAGES[1]], tokenize=False, add_generation_prompt=True, enable_thinking=False) \
        .endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert len(qwen3("<think>", add_special_tokens=False)["input_ids"]) == 1


def test_llama_speaks_llama2_chat_with_bos():
    tok, model = tiny("llama")
    assert (tok.bos_token, tok.eos_token) == ("<s>", "</s>")
    text = tok.apply_chat_template(MESSAGES + [{"role": "assistant", "content": "A"}], tokenize=False)
    assert text == "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\nQ [/INST] A </s>"
    assert tok("Q")["input_ids"][0] == tok.bos_token_id
    assert model.config.bos_token_id == tok.bos_token_id


def test_t5_ends_inputs_with_eos():
    tok, _ = tiny("t5")
    assert tok("Q")["input_ids"][-1] == tok.eos_token_id
