"""A step's entry point: main() reads the params file the engine wrote, validates it, checks the
GPU rules where the step runs, and runs the step's body, turning its failures into one line and an
exit code.

The engine (src/python/step-types.ts) writes a params file and runs `python <step>.py --params FILE`
(possibly under torchrun / deepspeed / accelerate). The parts, each in its own module:
  errors     UserError, CheckFailed, a crash's line
  channel    the event channel and log()
  params     Params, the manifest's schema, defaults and validation
  gpu_rules  the manifest's gpu_options checked with torch
  packages   require_module()
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from . import quiet
from .channel import events
from .errors import CheckFailed, UserError, exception_line
from .gpu_rules import check_gpu_rules
from .params import Params, load_manifest, validate
from .ranks import rank


def load_params(step: str) -> Params:
    parser = argparse.ArgumentParser(description=f"flow python step {step}")
    parser.add_argument("--params", required=True, help="JSON file written by the engine")
    # deepspeed's launcher passes --local_rank to every rank.
    parser.add_argument("--local_rank", "--local-rank", type=int, default=None)
    args = parser.parse_args()
    try:
        raw = json.loads(Path(args.params).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise UserError(f"{args.params}: cannot read params: {e}") from None
    with_ = validate(step, args.params, raw.get("with", {}))
    check_gpu_rules(load_manifest(step).get("gpu_options", []), with_)
    work_dir = raw.get("work_dir") or os.getcwd()
    outputs = raw.get("outputs") or {}
    return Params(step, with_, outputs, work_dir, raw.get("checkpoint_dir"), raw.get("report_to") or {}, raw.get("tracker_run"))


def main(step: str, body) -> None:
    """Runs a step body with user errors reported as one line and exit code 2, failed checks
    as one line and exit code 1. Each goes to the event channel too: a launcher (torchrun,
    deepspeed) replaces a rank's exit code with its own, so the code alone cannot tell."""
    quiet.install()
    try:
        params = load_params(step)
        log_threads()
        body(params)
    except (UserError, CheckFailed) as e:
        user = isinstance(e, UserError)
        prefix = "error" if rank() == 0 else f"error (rank {rank()})"
        print(f"{prefix}: {e}", file=sys.stderr, flush=True)
        events.error(str(e), "user" if user else "check")
        sys.exit(2 if user else 1)
    except Exception as e:
        # A crash: the whole traceback goes to stderr (the step's log); the engine shows the line a
        # reader looks for, the exception's own, as its failure.
        traceback.print_exc()
        sys.stderr.flush()
        events.error(exception_line(e), "crash")
        sys.exit(1)


def log_threads() -> None:
    """The CPU threads torch computes with, in the step's log: the engine sets OMP_NUM_THREADS from
    the cores the step is given (src/python/launch.ts), unless the user set it."""
    import torch

    events.log_only(f"torch: {torch.get_num_threads()} CPU threads "
                    f"(OMP_NUM_THREADS {os.environ.get('OMP_NUM_THREADS', 'unset')})")
