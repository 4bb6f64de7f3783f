"""Trackers (a recipe's `report_to:`): TensorBoard, MLflow, Weights & Biases.

Two users. The Trainer (python:sft) logs its loss curve to the trackers the recipe names:
`trainer_report_to` sets the environment the transformers callbacks read and attaches them to the
flow run's tracker run. And flow logs its own figures (params, the recipe, every metric by group
and by checkpoint) after a run, or again later from its records (`flow track`), by running this
module on a payload file the engine writes: `python -m flow_trackers payload.json`.

One flow run is one tracker run (per matrix variant in a sweep, grouped by the flow run id): a
TensorBoard folder <dir>/<recipe>/<name>, an MLflow run tagged flow.run_name, a W&B run with id
from the same name. A tracker that cannot be reached is a warning naming it on stderr
(`warning: mlflow: ...`), never a failure: the run's results are already committed.

It sits beside flow_runtime/, not in it: logging changes nothing a step produces, so this file is
no part of any step's implementation digest (editing it re-runs nothing).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

# MLflow's client retries a refused connection 7 times with exponential backoff (minutes): a
# tracker that is down should cost a run seconds. The user's own settings win.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


def warn(tracker: str, message: str) -> None:
    print(f"warning: {tracker}: {message}", file=sys.stderr, flush=True)


def tb_dir(cfg: dict, run: dict) -> Path:
    return Path(cfg["dir"]) / run["recipe"] / run["name"]


def mlflow_run_id(cfg: dict, run: dict) -> str:
    """The MLflow run of this flow run (variant): found by its tag, else created."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=cfg["tracking_uri"])
    name = cfg.get("experiment") or run["recipe"]
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name)
    found = client.search_runs([exp_id], filter_string=f"tags.`flow.run_name` = '{run['name']}'", max_results=1)
    if found:
        return found[0].info.run_id
    tags = {"flow.run_name": run["name"], "flow.run_id": run["flow_run"], "flow.group": run["flow_run"]}
    return client.create_run(exp_id, run_name=run["name"], tags=tags).info.run_id


def wandb_id(run: dict) -> str:
    return hashlib.sha256(run["name"].encode()).hexdigest()[:16]


def trainer_report_to(report_to: dict, run: dict) -> list[str]:
    """The Trainer's report_to list, with the environment its callbacks read pointed at this run."""
    out = []
    if "tensorboard" in report_to:
        os.environ["TENSORBOARD_LOGGING_DIR"] = str(tb_dir(report_to["tensorboard"], run))
        out.append("tensorboard")
    if "mlflow" in report_to:
        cfg = report_to["mlflow"]
        try:
            os.environ["MLFLOW_RUN_ID"] = mlflow_run_id(cfg, run)
            os.environ["MLFLOW_TRACKING_URI"] = cfg["tracking_uri"]
            os.environ["MLFLOW_EXPERIMENT_NAME"] = cfg.get("experiment") or run["recipe"]
            out.append("mlflow")
        except Exception as e:  # noqa: BLE001 - any failure to reach it is the same warning
            warn("mlflow", f"{cfg['tracking_uri']}: {str(e).splitlines()[0] if str(e) else type(e).__name__}; training goes on without it")
    if "wandb" in report_to:
        import importlib.util

        cfg = report_to["wandb"]
        if importlib.util.find_spec("wandb") is None:
            warn("wandb", "the wandb package is not installed; training goes on without it")
            return out
        os.environ.update(WANDB_PROJECT=cfg["project"], WANDB_MODE=cfg.get("mode", "online"), WANDB_RUN_ID=wandb_id(run),
                          WANDB_NAME=run["name"], WANDB_RUN_GROUP=run["flow_run"], WANDB_RESUME="allow")
        if cfg.get("entity"):
            os.environ["WANDB_ENTITY"] = cfg["entity"]
        if cfg.get("dir"):
            os.environ["WANDB_DIR"] = cfg["dir"]
        out.append("wandb")
    return out


def log_tensorboard(cfg: dict, run: dict) -> None:
    # torch's SummaryWriter (on tensorboard's event-file writer): the writer the Trainer's own
    # TensorBoard callback uses, so both land in one folder as one TensorBoard run.
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(log_dir=str(tb_dir(cfg, run)))
    try:
        w.add_text("flow/params", "```\n" + json.dumps(run["params"], indent=2) + "\n```")
        w.add_text("flow/recipe", "```yaml\n" + run["recipe_text"] + "\n```")
        for k, v in run.get("links", {}).items():
            w.add_text(f"flow/{k}", v)
        for s in run["scalars"]:
            w.add_scalar(s["tag"], s["value"], s["step"])
    finally:
        w.close()


def log_mlflow(cfg: dict, run: dict) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=cfg["tracking_uri"])
    run_id = mlflow_run_id(cfg, run)
    params = [Param(k, str(v)[:6000]) for k, v in flat(run["params"]).items()]
    # A param is logged once per run: a replay (or the Trainer's own) may have logged it.
    have = client.get_run(run_id).data.params
    params = [p for p in params if p.key not in have]
    metrics = [Metric(s["tag"], s["value"], 0, s["step"]) for s in run["scalars"]]
    for i in range(0, max(len(metrics), 1), 900):
        client.log_batch(run_id, metrics=metrics[i:i + 900], params=params if i == 0 else [])
    client.log_text(run_id, run["recipe_text"], "flow/recipe.yml")
    for k, v in run.get("links", {}).items():
        client.set_tag(run_id, f"flow.{k}", v)


def log_wandb(cfg: dict, run: dict) -> None:
    import wandb

    r = wandb.init(project=cfg["project"], entity=cfg.get("entity"), mode=cfg.get("mode", "online"), dir=cfg.get("dir"),
                   id=wandb_id(run), name=run["name"], group=run["flow_run"], resume="allow", config=run["params"])
    try:
        for s in run["scalars"]:
            r.log({s["tag"]: s["value"], "flow/step": s["step"]})
        r.summary.update(run.get("links", {}))
    finally:
        r.finish()


LOGGERS = {"tensorboard": log_tensorboard, "mlflow": log_mlflow, "wandb": log_wandb}


def flat(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flat(v, f"{key}."))
        else:
            out[key] = v
    return out


def log_payload(payload: dict) -> int:
    """Logs every run of the payload to every tracker; returns how many (tracker, run) pairs failed."""
    failed = 0
    for tracker, cfg in payload["report_to"].items():
        for run in payload["runs"]:
            try:
                LOGGERS[tracker](cfg, run)
            except Exception as e:  # noqa: BLE001 - whatever went wrong, the run is not lost
                failed += 1
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                warn(tracker, f"{run['name']}: {msg} (replay with: flow track {run['flow_run']})")
    return failed


if __name__ == "__main__":
    sys.exit(3 if log_payload(json.loads(Path(sys.argv[1]).read_text())) else 0)
