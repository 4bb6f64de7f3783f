"""Settings the Qwen3 seed recipe needs: cosine_with_min_lr with its floor, the optimizer, and a
step-level system prompt that a record's own overrides (the same in training and predict)."""

from flow_runtime.data import with_system
from sft import scheduler_kwargs, trainer_settings


def base(**kw):
    w = {"batch_size": 8, "gradient_accumulation_steps": 2, "epochs": 3, "max_steps": 0, "learning_rate": 2e-5,
         "weight_decay": 0.01, "scheduler": "cosine", "num_cycles": 1, "min_lr": 0, "optim": "adamw_torch",
         "warmup_steps": 0, "warmup_ratio": 0.01, "max_grad_norm": 1.0, "bf16": False, "fp16": False,
         "gradient_checkpointing": False, "seed": 42, "logging_steps": 25, "eval_steps": 100, "save_steps": 500,
         "save_total_limit": 2, "save_checkpoints": False,
         "group_by_length": False}
    return {**w, **kw}


def test_cosine_with_min_lr_and_optim_reach_the_trainer():
    s = trainer_settings(base(scheduler="cosine_with_min_lr", min_lr=1e-6, optim="adamw_8bit"), evaluate=False)
    assert s["lr_scheduler_type"] == "cosine_with_min_lr" and s["lr_scheduler_kwargs"] == {"min_lr_rate": 1e-6 / 2e-5}
    assert s["optim"] == "adamw_8bit"
    assert scheduler_kwargs(base(scheduler="cosine_with_restarts", num_cycles=3)) == {"num_cycles": 3}
    assert scheduler_kwargs(base()) == {}


def test_the_lr_schedule_ends_at_min_lr():
    import torch
    from transformers import get_scheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2e-5)
    sched = get_scheduler("cosine_with_min_lr", opt, num_warmup_steps=1, num_training_steps=10,
                          scheduler_specific_kwargs=scheduler_kwargs(base(scheduler="cosine_with_min_lr", min_lr=1e-6)))
    for _ in range(10):
        opt.step()
        sched.step()
    assert abs(sched.get_last_lr()[0] - 1e-6) < 1e-12


def test_step_system_prompt_fills_records_without_one():
    recs = [{"instruction": "q", "output": "a"}, {"instruction": "q", "output": "a", "system": "own"}]
    assert [r.get("system") for r in with_system(recs, "S")] == ["S", "own"]
    assert with_system(recs, "") == recs
