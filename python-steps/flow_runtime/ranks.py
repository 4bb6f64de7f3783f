"""Which process this is under a launcher (torchrun, deepspeed, accelerate): only the main one
(rank 0) reports events and log lines, so N ranks do not repeat each one."""

from __future__ import annotations

import os


def is_main_process() -> bool:
    return rank() == 0


def rank() -> int:
    """This process's global rank under a launcher (torchrun, deepspeed, accelerate), else 0."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0)


def local_rank() -> int:
    """This process's rank on its node: the index of its GPU."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0)
