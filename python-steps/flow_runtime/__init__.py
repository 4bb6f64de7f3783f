"""Shared runtime of flow's Python steps, as a small package:

  runtime      main(): a step's entry point, from the params file to its exit code
  errors       UserError (bad input, exit 2), CheckFailed (a failed check, exit 1), a crash's line
  channel      the event channel to the engine, and log()
  params       Params, the manifest's schema: validation and defaults
  gpu_rules    the manifests' gpu_options checked with torch where the step runs
  ranks        which process this is under a launcher
  packages     require_module(): an option's package, and which env has it
  files        write_json()
  data         records, the training dataset and collator
  prompting    templates: a record as token ids and labels, as the anchors encode it
  sql_clean    a model's answer as the one-line SQL that sql-eval reads
  tokenized    python:tokenize's saved dataset and the tokenizer digest that ties it to a model
  packing      packed rows that keep examples apart, and the check that the model honours them
  modeling     dtypes, Auto classes, tokenizer, LoRA / QLoRA and adapter loading
  distributed  DeepSpeed configs (configs/), leaving the process group together
  training     the Trainer's callback (events) and checkpoints for crash resume

The names most steps need are re-exported here (`from flow_runtime import UserError, main`).
"""

from .channel import events, log
from .data import read_records
from .errors import UserError
from .files import write_json
from .gpu_rules import cuda_available
from .packages import require_module
from .params import HERE, Params, checkpoint_dir
from .ranks import is_main_process
from .runtime import load_params, main

__all__ = ["HERE", "Params", "UserError", "checkpoint_dir", "cuda_available", "events", "is_main_process", "log",
           "load_params", "main", "read_records", "require_module", "write_json"]
