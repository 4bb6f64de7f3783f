"""python:sft: supervised fine-tuning with the transformers Trainer.

finetuning: lora | qlora | full; model_type: causal | seq2seq. Loss on the
response tokens only. Checkpoints go to a directory keyed by the step's cache
key (flow_runtime.runtime.checkpoint_dir), so a re-run after a crash resumes from the
last complete checkpoint instead of step 0. Distributed runs come from the
launcher the engine wraps this script in (torchrun / deepspeed / accelerate);
DeepSpeed ZeRO and AutoTP tensor parallelism are set through the DeepSpeed
config the Trainer receives.
"""

from __future__ import annotations

import math
import shutil
import time

from flow_runtime import UserError, checkpoint_dir, cuda_available, events, log, main, write_json
from flow_runtime.data import Collator, Dataset, encode_all, read_records
from flow_runtime.distributed import deepspeed_config, leave_together
from flow_runtime.modeling import load_for_training
from flow_runtime.training import latest_checkpoint, make_callback


def check_gpu_options(w: dict) -> None:
    """Same rules as the plan-time preflight, checked again where the run really happens."""
    if cuda_available():
        return
    wanted = []
    if w["finetuning"] == "qlora":
        wanted.append("finetuning: qlora (4-bit bitsandbytes)")
    if w.get("deepspeed") or w.get("deepspeed_config"):
        wanted.append("deepspeed")
    if (w.get("tp") or 1) > 1:
        wanted.append("tp")
    if w["bf16"]:
        wanted.append("bf16")
    if w["fp16"]:
        wanted.append("fp16")
    if wanted:
        raise UserError(f"{', '.join(wanted)}: needs a CUDA GPU and torch sees none")


def run(p) -> None:
    w = p.with_
    check_gpu_options(w)
    if w["model_type"] == "seq2seq" and w["finetuning"] == "qlora":
        raise UserError("with.finetuning: qlora is for causal models; use lora or full with model_type: seq2seq")
    from transformers import Trainer, TrainingArguments, set_seed

    set_seed(w["seed"])
    ds_cfg = deepspeed_config(w)
    model, tokenizer = load_for_training(w)
    records = read_records(w["train_file"], "train_file")
    items = encode_all(w, records, tokenizer)
    collator = Collator(tokenizer.pad_token_id)
    history: list[dict] = []
    ckpt = checkpoint_dir(p)
    ckpt.mkdir(parents=True, exist_ok=True)
    warmup = w["warmup_steps"] if w["warmup_steps"] else w["warmup_ratio"]
    sched_kwargs = {"num_cycles": w["num_cycles"]} if w["scheduler"] == "cosine_with_restarts" else {}
    args = TrainingArguments(
        output_dir=str(ckpt),
        per_device_train_batch_size=w["batch_size"],
        gradient_accumulation_steps=w["gradient_accumulation_steps"],
        num_train_epochs=w["epochs"],
        max_steps=w["max_steps"] or -1,
        learning_rate=w["learning_rate"],
        weight_decay=w["weight_decay"],
        lr_scheduler_type=w["scheduler"],
        lr_scheduler_kwargs=sched_kwargs,
        warmup_steps=warmup,
        max_grad_norm=w["max_grad_norm"],
        bf16=w["bf16"],
        fp16=w["fp16"],
        activation_checkpointing=w["gradient_checkpointing"],
        seed=w["seed"],
        logging_steps=w["logging_steps"],
        save_strategy="steps",
        save_steps=w["save_steps"],
        save_total_limit=w["save_total_limit"],
        report_to=[],
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        deepspeed=ds_cfg,
        use_cpu=not cuda_available(),
    )
    trainer = Trainer(model=model, args=args, train_dataset=Dataset(items), data_collator=collator,
                      processing_class=tokenizer, callbacks=[make_callback(collator, history)])
    log(f"sft: {w['finetuning']} on {len(items)} examples, world size {args.world_size}, device {args.device}")
    resume = latest_checkpoint(ckpt)
    if resume:
        log(f"sft: resuming from {resume}")
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    elapsed = time.time() - t0

    if w["finetuning"] == "full":
        out = p.output("model")
        trainer.save_model(str(out))
    else:
        out = p.output("adapter")
        trainer.model.save_pretrained(str(out), safe_serialization=True)
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out))
        # Prior runs' losses (before a resume) live in the checkpoint's state.
        full_history = [{"step": h["step"], "loss": h["loss"], "lr": h.get("learning_rate", 0.0)}
                        for h in trainer.state.log_history if "loss" in h]
        write_json(p.output("loss_history"), full_history or history)
        metrics = {
            "train_loss": result.training_loss,
            "final_loss": (full_history or history)[-1]["loss"] if (full_history or history) else None,
            "steps": trainer.state.global_step,
            "resumed_from": int(resume.name.split("-")[-1]) if resume else 0,
            "train_seconds": round(elapsed, 2),
            "examples": len(items),
        }
        write_json(p.output("metrics"), metrics)
        events.metric("train_loss", result.training_loss)
        events.artifact(w["finetuning"] == "full" and "model" or "adapter", out)
        if not w["keep_checkpoints"]:
            # The result is committed by the engine; the checkpoints only served a crash.
            shutil.rmtree(ckpt, ignore_errors=True)
        steps_per_epoch = math.ceil(len(items) / (w["batch_size"] * w["gradient_accumulation_steps"]))
        log(f"sft: {trainer.state.global_step} steps ({steps_per_epoch}/epoch) in {elapsed:.1f}s, "
            f"train loss {result.training_loss:.4f}")
    leave_together()


if __name__ == "__main__":
    main("sft", run)
