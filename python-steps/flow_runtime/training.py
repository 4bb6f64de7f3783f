"""The Trainer's side of a flow step: events from its callbacks, and the checkpoints
a re-run resumes from."""

from __future__ import annotations

import time
from pathlib import Path

from .channel import events, log
from .errors import CheckFailed


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint that was written completely: the Trainer writes
    trainer_state.json last, so a folder without it died mid-save."""
    done = [d for d in folder.glob("checkpoint-*") if (d / "trainer_state.json").is_file()]
    done = [d for d in done if d.name.split("-")[-1].isdigit()]
    return max(done, key=lambda d: int(d.name.split("-")[-1]), default=None)


# What a checkpoint folder holds only for resuming (optimizer, scheduler, RNG, the Trainer's state,
# which records max_steps): left out of a committed checkpoint, so that its content, and the keys
# of the steps that score it, are the same in a longer run of the same training.
_RESUME_ONLY = ("optimizer.pt", "scheduler.pt", "trainer_state.json", "training_args.bin", "README.md", "latest",
                "zero_to_fp32.py")


def commit_checkpoints(folder: Path, outputs: dict) -> None:
    """Copies each saved checkpoint's weights and configs to its declared output
    `checkpoint_<step>` (python:sft's save_checkpoints)."""
    import shutil

    for name, dest in outputs.items():
        if not name.startswith("checkpoint_"):
            continue
        src = folder / f"checkpoint-{name.split('_')[-1]}"
        if not (src / "trainer_state.json").is_file():
            raise RuntimeError(f"checkpoint {src} was not saved")
        Path(dest).mkdir(parents=True, exist_ok=True)
        for f in sorted(src.iterdir()):
            if f.is_file() and f.name not in _RESUME_ONLY and not f.name.startswith("rng_state"):
                shutil.copy2(f, Path(dest) / f.name)


# Consecutive logged steps with no gradient after which a run is stopped.
GUARD_LOGS = 2


class NoLearningGuard:
    """Stops a run in which no gradient reaches a trainable weight: GUARD_LOGS logged steps in a row
    (or every logged step of a shorter run, judged at its end) with a gradient norm of exactly 0
    while the loss is above 0. Such a run would save the model it started from as if trained:
    QLoRA's 4-bit layers on an inference kernel without autograd did so with exit 0. A loss of
    exactly 0 (a memorised batch) has nothing left to learn, so it is not counted."""

    def __init__(self, in_a_row: int = GUARD_LOGS) -> None:
        self.in_a_row = in_a_row
        self.logged_steps = 0
        self.dead: list[tuple[int, float]] = []  # (step, loss) of the current run of zero gradients

    def logged(self, step: int, logs: dict) -> None:
        grad = logs.get("grad_norm")
        if grad is None:  # not every trainer logs one; nothing to judge then
            return
        self.logged_steps += 1
        loss = float(logs["loss"])
        self.dead = self.dead + [(step, loss)] if float(grad) == 0.0 and loss > 0 else []
        if len(self.dead) >= self.in_a_row:
            self.fail()

    def at_end(self) -> None:
        if self.dead and len(self.dead) == self.logged_steps:
            self.fail()

    def fail(self) -> None:
        steps = ", ".join(str(s) for s, _ in self.dead)
        raise CheckFailed(f"training learnt nothing: the gradient norm was 0 at steps {steps} with the loss at "
                          f"{self.dead[-1][1]:.4g}, so no trainable weight reaches the loss; nothing is saved")


def trainer_line(logs: dict) -> str:
    """A log dict as the Trainer's PrinterCallback prints it ({'loss': '1.234', 'grad_norm': ...})."""
    return str({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in logs.items() if k != "total_flos"})


def make_callback(collator, history: list[dict]):
    """A TrainerCallback that reports loss, progress (with tokens/s) and checkpoints as events."""
    from transformers import TrainerCallback

    class FlowEvents(TrainerCallback):
        def __init__(self) -> None:
            self.t0 = time.time()
            self.tok0 = 0
            self.last: dict = {}
            self.tokens_per_s = 0.0
            self.guard = NoLearningGuard()

        def on_train_begin(self, args, state, control, **kw):
            self.t0, self.tok0 = time.time(), collator.tokens
            if state.global_step:
                log(f"sft: resumed at step {state.global_step} of {state.max_steps}")
                events.emit("resumed", step=state.global_step)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs:
                events.log_only(trainer_line(logs))
            if logs and "loss" in logs:
                self.last.update(loss=float(logs["loss"]), lr=float(logs.get("learning_rate", 0.0)))
                history.append({"step": state.global_step, "loss": self.last["loss"], "lr": self.last["lr"]})
                events.emit("loss", step=state.global_step, loss=self.last["loss"], lr=self.last["lr"])
                self.guard.logged(state.global_step, logs)
            if logs and "eval_loss" in logs:
                # Validation loss on the held-out split, every eval_steps.
                self.last["eval_loss"] = float(logs["eval_loss"])
                history.append({"step": state.global_step, "eval_loss": self.last["eval_loss"]})
                events.emit("loss", step=state.global_step, eval_loss=self.last["eval_loss"])
            if logs and ("loss" in logs or "eval_loss" in logs):
                # The Trainer logs after on_step_end: without this the engine's loss series (and the
                # TUI) would lag one log behind and never see the last loss, the run's final_loss.
                events.progress(state.global_step, state.max_steps, "step", tokens_per_s=self.tokens_per_s, **self.last)

        def on_step_end(self, args, state, control, **kw):
            dt = max(time.time() - self.t0, 1e-6)
            self.tokens_per_s = round((collator.tokens - self.tok0) / dt, 1)
            # A step the Trainer is about to log reports its progress from on_log, with its loss: one
            # progress event per optimizer step either way (the Trainer's own callback set should_log).
            if not control.should_log:
                events.progress(state.global_step, state.max_steps, "step", tokens_per_s=self.tokens_per_s, **self.last)

        def on_train_end(self, args, state, control, **kw):
            # Before the step saves: a run too short for GUARD_LOGS in a row is judged on all its logs.
            self.guard.at_end()

        def on_save(self, args, state, control, **kw):
            events.artifact("checkpoint", Path(args.output_dir) / f"checkpoint-{state.global_step}")

    return FlowEvents()
