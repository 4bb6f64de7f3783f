"""Prompt templates and tokenization shared by sft (training) and predict
(inference): both must render a record the same way, or the model is asked
something other than what it learned.

A record is alpaca-style: {instruction, input, output, history: [[q, a], ...]}.
The user turn is instruction + input; the response is output.
"""

from __future__ import annotations

from dataclasses import dataclass

from flow_runtime import UserError


@dataclass(frozen=True)
class Template:
    system: str
    # {system} {query}; prefix of the whole conversation (only on the first turn).
    first_user: str
    user: str
    # Appended after each assistant answer ({eos} is the tokenizer's eos token).
    answer_suffix: str


# Formats as in DB-GPT-Hub / LLaMA-Factory. `tokenizer` uses the tokenizer's own chat template.
TEMPLATES: dict[str, Template] = {
    "qwen": Template(
        system="You are a helpful assistant.",
        first_user="<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{query}<|im_end|>\n<|im_start|>assistant\n",
        user="<|im_start|>user\n{query}<|im_end|>\n<|im_start|>assistant\n",
        answer_suffix="<|im_end|>\n",
    ),
    "llama2": Template(
        system="",
        first_user="{bos}[INST] {query} [/INST] ",
        user="{bos}[INST] {query} [/INST] ",
        answer_suffix=" {eos}",
    ),
    "llama3": Template(
        system="",
        first_user="{bos}<|start_header_id|>user<|end_header_id|>\n\n{query}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        user="<|start_header_id|>user<|end_header_id|>\n\n{query}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
        answer_suffix="<|eot_id|>",
    ),
    "alpaca": Template(
        system="",
        first_user="{query}\n",
        user="{query}\n",
        answer_suffix="{eos}",
    ),
}

TEMPLATE_NAMES = [*TEMPLATES.keys(), "tokenizer"]


def user_text(record: dict) -> str:
    return (record.get("instruction") or "") + (record.get("input") or "")


def _fill(fmt: str, tokenizer, **kw: str) -> str:
    return (fmt.replace("{system}", kw.get("system", ""))
               .replace("{query}", kw.get("query", ""))
               .replace("{bos}", tokenizer.bos_token or "")
               .replace("{eos}", tokenizer.eos_token or ""))


def render(record: dict, template: str, tokenizer) -> tuple[str, str]:
    """(prompt, answer) text. The prompt ends where generation starts; the answer
    includes the end-of-turn marker so the model learns to stop."""
    history = record.get("history") or []
    answer = record.get("output") or ""
    if template == "tokenizer":
        if not getattr(tokenizer, "chat_template", None):
            raise UserError("template: tokenizer: the tokenizer has no chat template; name one of " + ", ".join(TEMPLATES))
        messages = []
        for q, a in history:
            messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        messages.append({"role": "user", "content": user_text(record)})
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return prompt, answer + (tokenizer.eos_token or "")
    t = TEMPLATES.get(template)
    if t is None:
        raise UserError(f"template: unknown template '{template}'; known: {', '.join(TEMPLATE_NAMES)}")
    parts = []
    for i, (q, a) in enumerate(history):
        parts.append(_fill(t.first_user if i == 0 else t.user, tokenizer, system=t.system, query=q))
        parts.append(a + _fill(t.answer_suffix, tokenizer))
    parts.append(_fill(t.first_user if not history else t.user, tokenizer, system=t.system, query=user_text(record)))
    return "".join(parts), answer + _fill(t.answer_suffix, tokenizer)


def encode_causal(record: dict, template: str, tokenizer, max_source: int, max_target: int) -> dict:
    """input_ids = prompt + answer; labels mask the prompt with -100 so the loss
    is on the response tokens only. The prompt keeps its end (the question and
    the generation marker) when it must be cut."""
    prompt, answer = render(record, template, tokenizer)
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"][-max_source:]
    a = tokenizer(answer, add_special_tokens=False)["input_ids"][:max_target]
    return {"input_ids": p + a, "labels": [-100] * len(p) + a}


def encode_seq2seq(record: dict, tokenizer, max_source: int, max_target: int) -> dict:
    src = tokenizer(user_text(record), max_length=max_source, truncation=True)["input_ids"]
    tgt = tokenizer(text_target=record.get("output") or "", max_length=max_target, truncation=True)["input_ids"]
    return {"input_ids": src, "labels": tgt}
