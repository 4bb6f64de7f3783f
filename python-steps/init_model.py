"""python:init-model: a tiny model of a real architecture (Qwen2, Qwen3, Llama or T5),
randomly initialised, with a byte-level BPE tokenizer trained on the recipe's
own training text. Saved as a normal transformers folder (safetensors, tokenizer,
chat template), so tests and the quickstart need no downloaded weights."""

from __future__ import annotations

from flow_runtime import UserError, events, log, main, read_records, write_json
from flow_runtime.prompting import user_text

# Each family's chat format and special tokens, so `template: tokenizer` renders as the real
# model's tokenizer does (structure and markers; the tiny BPE vocabulary is the training text's).
# Qwen2 / Qwen2.5: ChatML with a default system turn (the `qwen` template in prompting.py).
CHATML = (
    "{% for m in messages %}"
    "{% if loop.first and m['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Qwen3: ChatML without a default system turn; non-thinking answers start with an empty think block.
QWEN3 = (
    "{% for m in messages %}"
    "<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
# Llama 2 / CodeLlama-Instruct: [INST] turns, the system prompt folded into the first one.
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}"
    "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content | trim + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + content | trim + ' ' + eos_token }}{% endif %}"
    "{% endfor %}"
)
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<s>", "</s>", "<pad>", "<unk>"]
THINK = ["<think>", "</think>"]


def train_tokenizer(texts: list[str], vocab_size: int, arch: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL + (THINK if arch == "qwen3" else []),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    if arch == "t5":
        # T5 inputs and targets end with </s>.
        tok.post_processor = processors.TemplateProcessing(
            single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))])
        return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", unk_token="<unk>")
    if arch == "llama":
        # Llama's tokenizer starts every text with <s> (the template writes it itself).
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
        return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                       unk_token="<unk>", chat_template=LLAMA2)
    if arch == "qwen3":
        return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                       chat_template=QWEN3,
                                       additional_special_tokens=["<|im_start|>", "<think>", "</think>"])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=CHATML, additional_special_tokens=["<|im_start|>"])


def build_model(w: dict, tokenizer):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, LlamaConfig, Qwen2Config, Qwen3Config, T5Config

    torch.manual_seed(w["seed"])
    arch, h, n_layers, heads = w["arch"], w["hidden_size"], w["layers"], w["heads"]
    ids = dict(eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    if arch == "t5":
        cfg = T5Config(vocab_size=len(tokenizer), d_model=h, d_kv=h // heads, d_ff=w["intermediate_size"],
                       num_layers=n_layers, num_decoder_layers=n_layers, num_heads=heads,
                       decoder_start_token_id=tokenizer.pad_token_id, feed_forward_proj="relu", **ids)
        return AutoModelForSeq2SeqLM.from_config(cfg)
    common = dict(vocab_size=len(tokenizer), hidden_size=h, num_hidden_layers=n_layers, num_attention_heads=heads,
                  num_key_value_heads=w["kv_heads"] or heads, intermediate_size=w["intermediate_size"],
                  max_position_embeddings=w["max_position"], tie_word_embeddings=True, **ids)
    if arch == "llama":
        cfg = LlamaConfig(bos_token_id=tokenizer.bos_token_id, **common)
    elif arch == "qwen3":
        cfg = Qwen3Config(head_dim=h // heads, **common)
    else:
        cfg = Qwen2Config(**common)
    return AutoModelForCausalLM.from_config(cfg)


def run(p) -> None:
    w = p.with_
    if w["hidden_size"] % w["heads"]:
        raise UserError(f"with.hidden_size: {w['hidden_size']} is not divisible by with.heads ({w['heads']})")
    records = read_records(w["train_file"], "train_file")
    texts = [user_text(r) + "\n" + (r.get("output") or "") for r in records]
    for r in records:
        for q, a in r.get("history") or []:
            texts.append(q + "\n" + a)
    tokenizer = train_tokenizer(texts, w["vocab_size"], w["arch"])
    model = build_model(w, tokenizer)
    out = p.output("model")
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    n = sum(t.numel() for t in model.parameters())
    log(f"init-model: {w['arch']} with {n / 1e6:.2f}M parameters, vocab {len(tokenizer)}, saved to {out}")
    events.metric("parameters", n)
    events.metric("vocab_size", len(tokenizer))
    write_json(p.output("metrics"), {"parameters": n, "vocab_size": len(tokenizer), "arch": w["arch"]})


if __name__ == "__main__":
    main("init-model", run)
