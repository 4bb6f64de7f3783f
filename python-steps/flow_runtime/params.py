"""The params file the engine writes ({"step", "with", "outputs", "work_dir", ...}) as a typed
object, and its `with:` validated against the step's manifest with the schema's defaults filled in
(the same schema and defaults flow's plan applies with ajv)."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserError

# python-steps/: the manifests sit beside the step scripts.
HERE = Path(__file__).resolve().parent.parent


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


@dataclass
class Params:
    """What the engine hands a step: its id, its validated `with:`, the paths of its declared outputs,
    its fresh work folder, the folder its checkpoints outlive a crash in, and the recipe's trackers
    with this flow run's tracker run (flow_trackers.py), when it names any."""

    step: str
    with_: dict
    outputs: dict
    work_dir: str
    checkpoint_dir: str | None = None
    report_to: dict = field(default_factory=dict)
    tracker_run: dict | None = None

    def output(self, name: str) -> Path:
        path = self.outputs.get(name)
        if not path:
            raise UserError(f"the engine gave no path for output '{name}'")
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p


def checkpoint_dir(params: Params) -> Path:
    """A place that outlives the execution's fresh work dir, so a re-run of the same
    step (same cache key) finds the checkpoints of the run that crashed. The engine's
    cache store owns that folder and names it in the params file."""
    if params.checkpoint_dir:
        return Path(params.checkpoint_dir)
    return Path(params.work_dir) / "checkpoints"
