"""The manifests' `gpu_options` rules where the step really runs: the engine checked them at plan time
from what it knew of the machine (src/python/gpu-rules.ts); here torch decides."""

from __future__ import annotations

import json
from typing import Any

from .errors import UserError
from .ranks import local_rank


def _get(w: dict, dotted: str) -> Any:
    for k in dotted.split("."):
        if not isinstance(w, dict):
            return None
        w = w.get(k)
    return w


def gpu_rules_hit(rules: list[dict], w: dict) -> list[tuple[dict, Any]]:
    """The manifest's `gpu_options` rules that `w` sets (the same rules the engine checks at plan
    time, src/python/gpu-rules.ts), with the value that matched."""
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


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()
