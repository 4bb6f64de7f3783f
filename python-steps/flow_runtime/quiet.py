"""Known harmless library notices, silenced so the step log shows what matters. Only these
exact messages: every other warning stays visible."""

from __future__ import annotations

import logging
import os
import warnings

# (category, message regex) of warnings the libraries raise on every run.
HARMLESS_WARNINGS = [
    # transformers calls its own deprecated alias while loading a model.
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
    # DeepSpeed's ZeRO collectives use torch's old names.
    (FutureWarning, r"`torch\.distributed\.(all_gather_into_tensor|reduce_scatter_tensor)` is deprecated"),
    # accelerate on CPU ranks, announcing the thread count it picked.
    (UserWarning, r"OMP_NUM_THREADS/MKL_NUM_THREADS unset"),
    # peft, when modules_to_save trains a tied embedding: merge.py saves such a model untied.
    (UserWarning, r"Model has `tie_word_embeddings=True` and a tied layer is part of the adapter"),
    # peft's merge_and_unload untying them; merge.py says so in one line of its own.
    (UserWarning, r"Input and output embeddings are no longer tied after merging"),
]

# (logger, message substring) of library log lines that concern nothing a step runs.
HARMLESS_LOG_LINES = [
    # DeepSpeed's AutoTP explaining how it shards a tied lm_head / embedding.
    ("DeepSpeed", "supersedes the configured"),
    # bitsandbytes on an AVX512-BF16 CPU, at import (peft imports it in every step): its optional
    # inference kernel for repacked 4-bit weights, which flow never uses (modeling.keep_4bit_trainable).
    ("bitsandbytes.backends.cpu.ops", "Failed to load CPU gemm_4bit_forward from kernels-community"),
]


class _DropHarmless(logging.Filter):
    def __init__(self, texts: list[str]) -> None:
        super().__init__()
        self.texts = texts

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        return not any(s in msg for s in self.texts)


def _one_line(message, category, filename, lineno, line=None) -> str:
    # Python's default echoes the source line that called warnings.warn ("  warnings.warn(msg)")
    # on a second line: it tells a user nothing the file:line before it does not.
    return f"{filename}:{lineno}: {category.__name__}: {message}\n"


def install() -> None:
    for category, message in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    warnings.formatwarning = _one_line
    # Per-tensor "Loading weights" bars: progress reaches the engine as events.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    by_logger: dict[str, list[str]] = {}
    for name, text in HARMLESS_LOG_LINES:
        by_logger.setdefault(name, []).append(text)
    for name, texts in by_logger.items():
        logging.getLogger(name).addFilter(_DropHarmless(texts))
