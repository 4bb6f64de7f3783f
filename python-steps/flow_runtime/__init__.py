"""Shared runtime of flow's Python steps, as a small package:

  runtime      params file, validation and defaults, the event channel, user errors, main()
  data         records, the training dataset and collator
  prompting    templates: a record as token ids and labels, as the anchors encode it
  sql_clean    a model's answer as the one-line SQL that sql-eval reads
  tokenized    python:tokenize's saved dataset and the tokenizer digest that ties it to a model
  packing      packed rows that keep examples apart, and the check that the model honours them
  modeling     dtypes, Auto classes, tokenizer, LoRA / QLoRA and adapter loading
  distributed  ranks, DeepSpeed configs, leaving the process group together
  training     the Trainer's callback (events) and checkpoints for crash resume

The names most steps need are re-exported here (`from flow_runtime import UserError, main`).
"""

from .data import read_records
from .runtime import (HERE, Params, UserError, checkpoint_dir, cuda_available, events, is_main_process, log,
                      load_params, main, require_module, write_json)

__all__ = ["HERE", "Params", "UserError", "checkpoint_dir", "cuda_available", "events", "is_main_process", "log",
           "load_params", "main", "read_records", "require_module", "write_json"]
