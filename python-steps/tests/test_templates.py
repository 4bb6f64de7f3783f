"""Named templates encode token-identical to their anchor (DB-GPT-Hub or
LLaMA-Factory): ids produced once by the anchors' own code, see fixtures/README.md."""

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from flow_runtime.prompting import TEMPLATES, encode_causal, encode_turns, prompt_ids, stop_token_ids, user_text

FIX = Path(__file__).resolve().parent / "fixtures"
GOLDEN = json.loads((FIX / "template_golden.json").read_text(encoding="utf-8"))
RECORDS = json.loads((FIX / "template_records.json").read_text(encoding="utf-8"))


def tokenizer(kind: str):
    tok = AutoTokenizer.from_pretrained(FIX / kind)
    if kind == "sp":
        tok.add_bos_token = True  # a Llama tokenizer's default, as when the golden ids were made
    return tok


def case_id(c: dict) -> str:
    return f"{c['template']}-{c['tokenizer']}-record{c['record']}"


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=case_id)
def test_training_turns_match_the_anchor(case):
    tok = tokenizer(case["tokenizer"])
    got = [[u, a] for u, a in encode_turns(RECORDS[case["record"]], case["template"], tok)]
    assert got == case["turns"], f"\nflow:   {tok.decode([i for u, a in got for i in u + a])!r}\nanchor: {case['text']!r}"


@pytest.mark.parametrize("case", GOLDEN["cases"], ids=case_id)
def test_generation_prompt_matches_the_anchor(case):
    tok = tokenizer(case["tokenizer"])
    assert prompt_ids(RECORDS[case["record"]], case["template"], tok) == case["prompt"]


@pytest.mark.parametrize("case", [c for c in GOLDEN["cases"] if "stop" in c], ids=case_id)
def test_generation_stops_where_the_anchor_stops(case):
    # LLaMA-Factory replaces eos by the template's first stop word; flow keeps
    # the tokenizer's eos and stops on the stop words too: a superset.
    tok = tokenizer(case["tokenizer"])
    assert set(case["stop"]) <= set(stop_token_ids(case["template"], tok))


def test_every_named_template_has_a_golden_case():
    assert {c["template"] for c in GOLDEN["cases"]} == set(TEMPLATES)


def test_instruction_and_input_are_joined_with_a_newline():
    assert user_text({"instruction": "a", "input": "b"}) == "a\nb"
    assert user_text({"instruction": "a", "input": ""}) == "a"


def test_training_labels_mask_every_prompt_and_keep_every_answer():
    tok = tokenizer("bpe")
    rec = RECORDS[1]
    turns = encode_turns(rec, "qwen", tok)
    enc = encode_causal(rec, "qwen", tok, max_source=10_000, max_target=10_000)
    assert enc["input_ids"] == [i for u, a in turns for i in u + a]
    assert enc["labels"] == [x for u, a in turns for x in [-100] * len(u) + a]


def test_a_long_prompt_keeps_its_end_in_training_as_in_predict():
    tok = tokenizer("bpe")
    rec = RECORDS[0]
    enc = encode_causal(rec, "qwen", tok, max_source=20, max_target=10_000)
    prompt = prompt_ids(rec, "qwen", tok)
    answer = encode_turns(rec, "qwen", tok)[-1][1]
    assert enc["input_ids"] == prompt[-20:] + answer
    assert enc["labels"] == [-100] * 20 + answer


CHATML = (
    "{% for m in messages %}"
    "{% if loop.first and m['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_the_tokenizers_own_chat_template_splits_each_turn_at_the_generation_prompt():
    tok = tokenizer("bpe")
    tok.chat_template = CHATML
    rec = RECORDS[1]
    turns = encode_turns(rec, "tokenizer", tok)
    assert len(turns) == 2
    msgs = [{"role": "user", "content": rec["history"][0][0]}, {"role": "assistant", "content": rec["history"][0][1]},
            {"role": "user", "content": user_text(rec)}, {"role": "assistant", "content": rec["output"]}]
    full = tok.apply_chat_template(msgs, tokenize=False)
    assert tok.decode([i for u, a in turns for i in u + a]) == full
    # The answer is what the template puts after the generation prompt, end-of-turn included.
    assert tok.decode(turns[-1][1]) == rec["output"] + "<|im_end|>\n"
    assert tok.decode(prompt_ids(rec, "tokenizer", tok)).endswith("<|im_start|>assistant\n")


def test_a_tokenizer_without_a_chat_template_is_a_user_error():
    from flow_runtime import UserError

    tok = tokenizer("bpe")
    with pytest.raises(UserError, match="has no chat template"):
        encode_turns(RECORDS[0], "tokenizer", tok)
