"""Training data: alpaca-style records, their encoding, the dataset and the collator."""

from __future__ import annotations

import json
import re
from pathlib import Path

from .errors import UserError
from .prompting import IGNORE_INDEX, encode_causal, encode_seq2seq

# LLaMA-Factory's defaults (data/README.md, dataset_info.json "columns" and "tags"): alpaca reads
# instruction/input/output/system/history; sharegpt a `conversations` list of {from, value} with
# human/gpt/system roles; the OpenAI-style `messages` list of {role, content} is sharegpt with
# other tags, as LLaMA-Factory's own examples declare it.
ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
                  "history": "history"}
SHAREGPT_COLUMNS = {"messages": "conversations", "system": "system"}
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "system_tag": "system"}
MESSAGES_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                 "system_tag": "system"}
FORMATS = ("alpaca", "sharegpt", "messages")


class Where:
    """Names a record in bad-input messages: `with.<field>: <file>: <record> <n>: field '<f>': why`.
    `unit` is what a row is called in that file (a JSON array's record index, a JSONL/CSV line,
    a parquet/arrow row)."""

    def __init__(self, field: str, path: str, unit: str = "record") -> None:
        self.field, self.path, self.unit = field, path, unit

    def file(self, msg: str) -> UserError:
        return UserError(f"with.{self.field}: {self.path}: {msg}")

    def at(self, n, column: str | None, msg: str) -> UserError:
        col = f": field '{column}'" if column else ""
        return UserError(f"with.{self.field}: {self.path}: {self.unit} {n}{col}: {msg}")


def _text(row: dict, column: str, where: Where, n, required: bool) -> str:
    """A string cell; a missing or null optional cell is ''."""
    if column not in row or row[column] is None:
        if required:
            raise where.at(n, column, "missing")
        return ""
    v = row[column]
    if not isinstance(v, str):
        raise where.at(n, column, f"expected a string, got {type(v).__name__}")
    return v


def _history(row: dict, column: str, where: Where, n) -> list:
    v = row.get(column)
    if v is None:
        return []
    if hasattr(v, "tolist"):  # numpy arrays from parquet
        v = v.tolist()
    ok = isinstance(v, list) and all(isinstance(t, (list, tuple)) and len(t) == 2 and all(isinstance(x, str) for x in t)
                                    for t in v)
    if not ok:
        raise where.at(n, column, "expected a list of [question, answer] string pairs")
    return [list(t) for t in v]


def from_alpaca(row: dict, where: Where, n, columns: dict | None = None, need_output: bool = True) -> dict:
    c = {**ALPACA_COLUMNS, **(columns or {})}
    rec = {
        "instruction": _text(row, c["prompt"], where, n, required=True),
        "input": _text(row, c["query"], where, n, required=False),
        "output": _text(row, c["response"], where, n, required=need_output),
        "history": _history(row, c["history"], where, n),
    }
    system = _text(row, c["system"], where, n, required=False)
    if system:
        rec["system"] = system
    return _keep(row, rec)


def from_sharegpt(row: dict, where: Where, n, columns: dict | None = None, tags: dict | None = None,
                  default_tags: dict = SHAREGPT_TAGS, need_output: bool = True) -> dict:
    """Turns alternate user / assistant after an optional leading system turn (LLaMA-Factory's
    rule; a broken conversation is refused here where LLaMA-Factory only warns and skips it).
    The last pair becomes instruction/output, earlier pairs the history."""
    c = {**SHAREGPT_COLUMNS, **(columns or {})}
    t = {**default_tags, **(tags or {})}
    col = c["messages"]
    msgs = row.get(col)
    if hasattr(msgs, "tolist"):
        msgs = msgs.tolist()
    if not isinstance(msgs, list) or not msgs:
        raise where.at(n, col, "missing" if msgs is None else "expected a non-empty list of messages")
    system = _text(row, c["system"], where, n, required=False)
    texts, roles = [], []
    for i, m in enumerate(msgs):
        f = f"{col}[{i}]"
        if not isinstance(m, dict):
            raise where.at(n, f, "expected an object")
        role, content = m.get(t["role_tag"]), m.get(t["content_tag"])
        if not isinstance(content, str):
            raise where.at(n, f"{f}.{t['content_tag']}", "missing" if content is None else "expected a string")
        if i == 0 and role == t["system_tag"]:
            system = content
            continue
        want = t["user_tag"] if len(texts) % 2 == 0 else t["assistant_tag"]
        if role != want:
            raise where.at(n, f"{f}.{t['role_tag']}", f"expected '{want}' (turns alternate {t['user_tag']}, "
                                                     f"{t['assistant_tag']}), got {json.dumps(role)}")
        texts.append(content)
        roles.append(role)
    if not texts:
        raise where.at(n, col, "no user turn")
    if len(texts) % 2 == 1:
        if need_output:
            raise where.at(n, col, f"ends with a {t['user_tag']} turn: no answer to train on")
        texts.append("")
    pairs = [texts[i:i + 2] for i in range(0, len(texts), 2)]
    rec = {"instruction": pairs[-1][0], "input": "", "output": pairs[-1][1], "history": pairs[:-1]}
    if system:
        rec["system"] = system
    return _keep(row, rec)


def _keep(row: dict, rec: dict) -> dict:
    """Fields downstream steps read beside the prompt (db_id for evaluation, the question as written)."""
    for k in ("db_id", "question"):
        if isinstance(row.get(k), str):
            rec[k] = row[k]
    return rec


# The common public text-to-SQL shapes (a question, its SQL, a schema/context column with CREATE
# TABLE and INSERT statements, as b-mc2/sql-create-context or fahmiaziz/text2sql-dataset). The
# default prompt is the Qwen3 seed's user turn (Qianvenh/Text2SQL-Qwen3-1p7B, its data notebook).
TEXT2SQL_COLUMNS = {"question": "question", "sql": "sql", "context": "context", "db_id": "db_id",
                    "evidence": "evidence"}
TEXT2SQL_PROMPT = "\n[SCHEMA]\n{context}\n[QUESTION]\n{question}\n"
_PROMPT_FIELDS = re.compile(r"\{(question|context|evidence|db_id)\}")


def from_text2sql(row: dict, where: Where, n, columns: dict | None = None, prompt: str = TEXT2SQL_PROMPT,
                  system: str = "") -> dict:
    """One alpaca record: the prompt filled from the row (one pass, so braces inside a schema stay
    as they are), the SQL as the answer; question and db_id kept for the audit and evaluation."""
    c = {**TEXT2SQL_COLUMNS, **(columns or {})}
    values = {
        "question": _text(row, c["question"], where, n, required=True),
        "context": _text(row, c["context"], where, n, required="{context}" in prompt),
        "evidence": _text(row, c["evidence"], where, n, required="{evidence}" in prompt),
        "db_id": _text(row, c["db_id"], where, n, required="{db_id}" in prompt),
    }
    sql = _text(row, c["sql"], where, n, required=True)
    if not sql.strip():
        raise where.at(n, c["sql"], "empty SQL")
    rec = {"instruction": _PROMPT_FIELDS.sub(lambda m: values[m.group(1)], prompt), "input": "", "output": sql,
           "history": [], "question": values["question"]}
    if system:
        rec["system"] = system
    if values["db_id"]:
        rec["db_id"] = values["db_id"]
    return rec


def detect_format(row, where: Where, n) -> str:
    if not isinstance(row, dict):
        raise where.at(n, None, f"expected an object, got {type(row).__name__}")
    if "conversations" in row:
        return "sharegpt"
    if "messages" in row:
        return "messages"
    if "instruction" in row:
        return "alpaca"
    raise where.at(n, None, "neither alpaca ('instruction'), sharegpt ('conversations') nor messages ('messages'); "
                            f"its fields: {', '.join(sorted(map(str, row))) or 'none'}")


def convert(row, fmt: str, where: Where, n, columns: dict | None = None, tags: dict | None = None,
            need_output: bool = True) -> dict:
    if not isinstance(row, dict):
        raise where.at(n, None, f"expected an object, got {type(row).__name__}")
    if fmt == "alpaca":
        return from_alpaca(row, where, n, columns, need_output)
    if fmt == "sharegpt":
        return from_sharegpt(row, where, n, columns, tags, SHAREGPT_TAGS, need_output)
    if fmt == "messages":
        return from_sharegpt(row, where, n, {"messages": "messages", **(columns or {})}, tags, MESSAGES_TAGS,
                             need_output)
    raise where.file(f"unknown format '{fmt}'; known: {', '.join(FORMATS)}")


def read_json_rows(path: str, where: Where) -> list:
    """A JSON array, or JSON Lines (one object per line); sets where.unit to match."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise where.file(f"cannot read: {e}") from None
    if not text.strip():
        raise where.file("empty file")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise where.file(f"not valid JSON: {e}") from None
        where.unit = "record"
        return data
    where.unit = "line"
    rows = []
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append((i, json.loads(line)))
        except json.JSONDecodeError as e:
            raise where.at(i, None, f"not valid JSON (a JSON Lines file, or a JSON array starting with '['): {e}") from None
    return rows


def read_records(path: str, field: str, need_output: bool = False) -> list[dict]:
    """Alpaca records {instruction, input, output, history[, system, db_id, question]} from a JSON
    array or JSON Lines file of alpaca, sharegpt or messages records (the format judged from the
    first record, every record held to it). `need_output`: training data, where a record without an
    answer is an error rather than an empty response."""
    where = Where(field, path)
    data = read_json_rows(path, where)
    if where.unit == "record":
        if not isinstance(data, list):
            raise where.file("expected a JSON array of records")
        numbered = list(enumerate(data))
    else:
        numbered = data
    if not numbered:
        raise where.file("no records")
    fmt = detect_format(numbered[0][1], where, numbered[0][0])
    return [convert(row, fmt, where, n, need_output=need_output) for n, row in numbered]


def with_system(records: list[dict], system: str) -> list[dict]:
    """The step's `system` prompt for records that carry none (a record's own wins), the same in
    training and predict so the model is asked what it learned."""
    if not system:
        return records
    return [r if r.get("system") else {**r, "system": system} for r in records]


def encode_all(w: dict, records: list[dict], tokenizer) -> list[dict]:
    """Token ids and labels per record; records with nothing to learn (empty response) are dropped."""
    items = []
    for r in records:
        if w["model_type"] == "seq2seq":
            e = encode_seq2seq(r, tokenizer, w["max_source_length"], w["max_target_length"])
            e["decoder"] = True
        else:
            e = encode_causal(r, w["template"], tokenizer, w["max_source_length"], w["max_target_length"])
        if any(x != IGNORE_INDEX for x in e["labels"]):
            items.append(e)
    if not items:
        raise UserError("with.train_file: no record has a non-empty response to train on")
    return items


class Dataset:
    def __init__(self, items: list[dict]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


class Collator:
    """Right-pads a batch; counts real tokens (tokens_per_s) and the slots they fill (padding_fraction)."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id
        self.tokens = 0
        self.slots = 0

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        n = max(len(b["input_ids"]) for b in batch)
        ids = [b["input_ids"] + [self.pad_id] * (n - len(b["input_ids"])) for b in batch]
        mask = [[1] * len(b["input_ids"]) + [0] * (n - len(b["input_ids"])) for b in batch]
        self.tokens += sum(len(b["input_ids"]) for b in batch)
        self.slots += n * len(batch)
        out = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
        m = max(len(b["labels"]) for b in batch)
        if "decoder" in batch[0]:
            out["labels"] = torch.tensor([b["labels"] + [IGNORE_INDEX] * (m - len(b["labels"])) for b in batch])
        else:
            out["labels"] = torch.tensor([b["labels"] + [IGNORE_INDEX] * (n - len(b["labels"])) for b in batch])
        return out
