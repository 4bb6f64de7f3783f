"""The runtime every step shares: params, events, user errors.

The engine (src/python/step-types.ts) writes a params file
{"step", "with", "outputs", "work_dir"} and runs `python <step>.py --params FILE`
(possibly under torchrun / deepspeed / accelerate). This module reads and
validates that file against the step's manifest, and reports events as JSON
lines on a channel of their own, never mixed into stdout:
  FLOW_EVENTS_FD   an inherited pipe (direct launches), or
  FLOW_EVENTS_FILE a file the engine tails (launchers whose ranks lose fds).
Only the main process (rank 0) reports, so N ranks do not repeat every event.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from . import quiet

# python-steps/: the manifests sit beside the step scripts.
HERE = Path(__file__).resolve().parent.parent


class UserError(Exception):
    """Bad input: printed as one line, no traceback, exit code 2."""


class CheckFailed(Exception):
    """The step ran but its result is wrong (a load check failed): one line, exit code 1."""


def is_main_process() -> bool:
    return rank() == 0


def rank() -> int:
    """This process's global rank under a launcher (torchrun, deepspeed, accelerate), else 0."""
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) or 0)


def local_rank() -> int:
    """This process's rank on its node: the index of its GPU."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


class Events:
    def __init__(self) -> None:
        self._out = None
        if not is_main_process():
            return
        fd = os.environ.get("FLOW_EVENTS_FD")
        path = os.environ.get("FLOW_EVENTS_FILE")
        try:
            if fd:
                self._out = os.fdopen(int(fd), "w", buffering=1, closefd=False)
            elif path:
                self._out = open(path, "a", buffering=1, encoding="utf-8")
        except OSError:
            # No channel (e.g. a manual run): events are simply not reported.
            self._out = None

    def error(self, message: str, kind: str) -> None:
        """An error is reported by whichever rank hits it: under a launcher the first rank to fail
        may be the only one to say why, since the launcher stops the others, rank 0 included,
        before they get there. Ranks share the events file; each line is one append."""
        path = os.environ.get("FLOW_EVENTS_FILE")
        if self._out is None and path and not os.environ.get("FLOW_EVENTS_FD"):
            try:
                self._out = open(path, "a", buffering=1, encoding="utf-8")
            except OSError:
                pass
        self.emit("error", message=message, kind=kind)

    def emit(self, type_: str, **data: Any) -> None:
        if self._out is None:
            return
        data["type"] = type_
        data["time"] = time.time()
        try:
            self._out.write(json.dumps(data) + "\n")
        except (BrokenPipeError, ValueError):
            self._out = None

    def progress(self, current: int, total: int | None = None, unit: str = "step", **values: float) -> None:
        self.emit("progress", current=current, total=total, unit=unit,
                  values={k: v for k, v in values.items() if v is not None})

    def log_only(self, line: str) -> None:
        """A line for the step's log file (and the TUI's log view), not for the plain output."""
        self.emit("log", line=line)

    def metric(self, name: str, value: float) -> None:
        self.emit("metric", name=name, value=float(value))

    def artifact(self, name: str, path: str | Path) -> None:
        self.emit("artifact", name=name, path=str(path))


events = Events()


def log(msg: str) -> None:
    if is_main_process():
        print(msg, flush=True)


def _apply_defaults(schema: dict, value: Any) -> Any:
    """Fills `default`s of object properties recursively (ajv does the same on the TS side)."""
    if not isinstance(value, dict) or schema.get("type") != "object":
        return value
    for key, sub in schema.get("properties", {}).items():
        if key not in value and "default" in sub:
            value[key] = copy.deepcopy(sub["default"])
        if key in value:
            value[key] = _apply_defaults(sub, value[key])
    return value


def load_manifest(step: str) -> dict:
    return json.loads((HERE / f"{step}.json").read_text(encoding="utf-8"))


def validate(step: str, params_file: str, with_: dict) -> dict:
    import jsonschema

    schema = load_manifest(step)["schema"]
    with_ = _apply_defaults(schema, copy.deepcopy(with_))
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(with_), key=lambda e: list(e.path))
    if errors:
        lines = []
        for e in errors:
            rule = _cross_field_rule(schema, e)
            field = ".".join(str(p) for p in e.absolute_path) or "(with)"
            lines.append(f"with.{rule[0]}: {rule[1]}" if rule else f"{params_file}: with.{field}: {e.message}")
        raise UserError("\n".join(lines))
    return with_


def _cross_field_rule(schema: dict, e) -> tuple[str, str] | None:
    """(field, why) of a broken cross-field rule: an if/then whose `then` describes itself, the same
    rules and words flow's plan reports (src/steps/cross-field.ts); None for any other error."""
    path = list(e.schema_path)
    if "then" not in path:
        return None
    at = len(path) - 1 - path[::-1].index("then")
    owner = schema
    for part in path[:at]:
        owner = owner[part]
    node = owner["then"]
    why = node.get("description") if isinstance(node, dict) else None
    if not isinstance(why, str):
        return None
    own = ".".join(str(p) for p in e.absolute_path)
    if e.validator == "required":
        missing = e.message.split("'")[1] if "'" in e.message else ""
        own = ".".join(x for x in (own, missing) if x)
    trigger = [str(k) for k in owner.get("if", {}).get("required", [])]
    return own or (trigger[0] if trigger else "(with)"), why


class Params:
    def __init__(self, step: str, with_: dict, outputs: dict, work_dir: str, checkpoint_dir: str | None = None,
                 report_to: dict | None = None, tracker_run: dict | None = None) -> None:
        # The recipe's trackers and this flow run's tracker run (flow_trackers.py), when it names any.
        self.report_to = report_to or {}
        self.tracker_run = tracker_run
        self.step = step
        self.with_ = with_
        self.outputs = outputs
        self.work_dir = work_dir
        self.checkpoint_dir = checkpoint_dir

    def output(self, name: str) -> Path:
        path = self.outputs.get(name)
        if not path:
            raise UserError(f"the engine gave no path for output '{name}'")
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


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
    return Params(step, with_, outputs, work_dir, raw.get("checkpoint_dir"), raw.get("report_to"), raw.get("tracker_run"))


def _get(w: dict, dotted: str) -> Any:
    for k in dotted.split("."):
        if not isinstance(w, dict):
            return None
        w = w.get(k)
    return w


def gpu_rules_hit(rules: list[dict], w: dict) -> list[tuple[dict, Any]]:
    """The manifest's `gpu_options` rules that `w` sets (the same rules the engine checks at plan
    time, src/python/step-types.ts), with the value that matched."""
    hits = []
    for rule in rules:
        v = _get(w, rule["field"])
        if v is None:
            continue
        if ("in" in rule and v in rule["in"]) or rule.get("present") or \
                ("gt" in rule and isinstance(v, (int, float)) and v > rule["gt"]):
            hits.append((rule, v))
    return hits


def check_gpu_rules(rules: list[dict], w: dict) -> None:
    """Plan time decided from the machine; here torch decides, where the step really runs."""
    hits = gpu_rules_hit(rules, w)
    if not hits:
        return
    import torch

    cuda = torch.cuda.is_available()
    for rule, v in hits:
        option = f"with.{rule['field']}: {json.dumps(v) if not isinstance(v, str) else v}"
        if not cuda and not rule.get("cpu_ok"):
            raise UserError(f"{option} needs a CUDA GPU ({rule['why']}) and torch sees none")
        if cuda and "capability" in rule:
            major, minor = torch.cuda.get_device_capability(local_rank() % torch.cuda.device_count())
            if major + minor / 10 < rule["capability"]:
                raise UserError(f"{option}: {rule['why']}; this GPU has compute capability {major}.{minor}")


def checkpoint_dir(params: Params) -> Path:
    """A place that outlives the execution's fresh work dir, so a re-run of the same
    step (same cache key) finds the checkpoints of the run that crashed. The engine's
    cache store owns that folder and names it in the params file."""
    if params.checkpoint_dir:
        return Path(params.checkpoint_dir)
    return Path(params.work_dir) / "checkpoints"


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# Packages of an env of their own (python-steps/requirements-<name>.txt), which flow builds for
# the option that needs it; every other one is in requirements.txt.
OWN_ENV_OF = {"vllm": "requirements-vllm.txt"}


def require_module(module: str, option: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is not None:
        return
    own = OWN_ENV_OF.get(module)
    if own:
        fix = (f"flow's managed env for it is built from python-steps/{own}; the interpreter given by "
               f"`python.interpreter` / FLOW_PYTHON lacks it (install that file in it)")
    else:
        fix = ("flow's managed env has it (python-steps/requirements.txt); the interpreter given by "
               "`python.interpreter` / FLOW_PYTHON lacks it")
    raise UserError(f"{option} needs the Python package '{module}', which is not installed: {fix}")


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


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
    the cores the step is given (src/python/step-types.ts), unless the user set it."""
    import torch

    events.log_only(f"torch: {torch.get_num_threads()} CPU threads "
                    f"(OMP_NUM_THREADS {os.environ.get('OMP_NUM_THREADS', 'unset')})")


def exception_line(e: BaseException) -> str:
    """The last line of a traceback, `Type: message`, on one line (a message may span several)."""
    text = "".join(traceback.format_exception_only(type(e), e))
    return " ".join(line.strip() for line in text.splitlines() if line.strip())
