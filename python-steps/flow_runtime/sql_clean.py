"""Turning a model's answer into the one-line SQL that sql-eval reads.

Two ways, named by predict's `clean`:
  dbgpt-hub  exactly DB-GPT-Hub's predict.py: every newline becomes a space,
             nothing else (so its EX numbers can be compared like for like);
  sql        an extraction for chatty models: a reasoning block and code fences
             are dropped, the answer starts at the first SQL keyword that opens
             a statement, ends at the first `;` outside a string literal or
             quoted identifier, and its whitespace is collapsed outside
             literals only.
Neither may return an empty line: that would shift every later prediction
against the gold file, so an empty answer becomes "SELECT" (wrong, but in place).
"""

from __future__ import annotations

import re

EMPTY = "SELECT"
CLEANERS = ("dbgpt-hub", "sql")

_THINK = re.compile(r"<think>.*?(</think>|$)", re.S)
_FENCE = re.compile(r"```[ \t]*(?:sql|sqlite|SQL)?[ \t]*\n?(.*?)(?:```|$)", re.S)
# A statement starts with SELECT, or WITH followed by `name AS (` (a CTE), so
# the word "with" in prose ("Here is the query with a join:") is not a start.
# A leading "(" belongs to the statement: "(SELECT a FROM t) UNION (...)".
_START_SQL = r"(?:\(\s*)*\bSELECT\b|\bWITH\s+(?:RECURSIVE\s+)?[\w\"`\[\]]+\s*(?:\([^)]*\)\s*)?AS\s*\("
# Prefer a statement at the start of a line ("Here is how to select them:\nSELECT ...").
_START_LINE = re.compile(r"^[ \t]*(" + _START_SQL + ")", re.I | re.M)
_START = re.compile(_START_SQL, re.I)


def clean_dbgpt_hub(text: str) -> str:
    return text.replace("\n", " ") or EMPTY


def _first_statement(sql: str) -> str:
    """Up to the first `;` outside quotes, with whitespace runs outside quotes
    turned into one space. Quotes: '...' and "..." (doubled to escape), `...`, [...]."""
    out: list[str] = []
    quote: str | None = None
    pending_space = False
    i = 0
    closing = {"'": "'", '"': '"', "`": "`", "[": "]"}
    while i < len(sql):
        c = sql[i]
        if quote is None:
            if c == ";":
                break
            if c.isspace():
                pending_space = bool(out)
                i += 1
                continue
            if pending_space:
                out.append(" ")
                pending_space = False
            if c in closing:
                quote = closing[c]
            out.append(c)
        else:
            out.append(c)
            if c == quote:
                if quote in "'\"" and i + 1 < len(sql) and sql[i + 1] == quote:
                    out.append(sql[i + 1])  # an escaped quote stays inside the literal
                    i += 1
                else:
                    quote = None
        i += 1
    # Inside an unterminated literal, newlines would still break the one-line format.
    return "".join(out).replace("\n", " ").replace("\r", " ")


def clean_sql(text: str) -> str:
    text = _THINK.sub("", text)
    fence = _FENCE.search(text)
    if fence:
        text = fence.group(1)
    line = _START_LINE.search(text)
    start = line.start(1) if line else (m.start() if (m := _START.search(text)) else 0)
    text = text[start:]
    return _first_statement(text).strip() or EMPTY


def clean(text: str, how: str) -> str:
    if how == "dbgpt-hub":
        return clean_dbgpt_hub(text)
    if how == "sql":
        return clean_sql(text)
    raise ValueError(f"unknown clean-up '{how}'")
