"""python:sft: supervised fine-tuning with the transformers Trainer.

finetuning: lora | qlora | full; model_type: causal | seq2seq. Loss on the
response tokens only. Checkpoints go to a directory keyed by the step's cache
key (flow_runtime.checkpoint_dir), so a re-run after a crash resumes from the
last complete checkpoint instead of step 0. Distributed runs come from the
launcher the engine wraps this script in (torchrun / deepspeed / accelerate);
DeepSpeed ZeRO and AutoTP tensor parallelism are set through the DeepSpeed
config the Trainer receives.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

from flow_runtime import (HERE, UserError, checkpoint_dir, cuda_available, events, is_main_process, log, main,
                          read_records, require_module, write_json)
from prompting import encode_causal, encode_seq2seq


def dtype_of(name: str):
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


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


def deepspeed_config(w: dict) -> dict | None:
    ds = w.get("deepspeed_config") or w.get("deepspeed")
    tp = w.get("tp") or 1
    if not ds and tp == 1:
        return None
    if not ds:
        raise UserError("with.tp: tensor parallelism runs through DeepSpeed AutoTP; set with.deepspeed: zero2")
    require_module("deepspeed", "with.deepspeed")
    if ds in ("zero2", "zero3"):
        cfg = json.loads((HERE / "configs" / f"ds_{ds}.json").read_text())
    else:
        try:
            cfg = json.loads(Path(ds).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise UserError(f"with.deepspeed: cannot read DeepSpeed config {ds}: {e}") from None
    if tp > 1:
        stage = cfg.get("zero_optimization", {}).get("stage", 0)
        if stage > 2:
            raise UserError(f"with.tp: DeepSpeed AutoTP training works with ZeRO stages 0-2, not {stage} (with.deepspeed)")
        if w["finetuning"] != "full":
            raise UserError("with.tp: tensor parallelism is for finetuning: full")
        cfg["tensor_parallel"] = {"autotp_size": tp}
    return cfg


def load_model(w: dict):
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(w["model"])
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    auto = AutoModelForSeq2SeqLM if w["model_type"] == "seq2seq" else AutoModelForCausalLM
    kwargs: dict = {}
    if w["finetuning"] == "qlora":
        require_module("bitsandbytes", "finetuning: qlora")
        from transformers import BitsAndBytesConfig

        q = w["qlora"]
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=q["quant_type"],
            bnb_4bit_use_double_quant=q["double_quant"],
            bnb_4bit_compute_dtype=dtype_of(q["compute_dtype"]),
        )
        kwargs["dtype"] = dtype_of(q["compute_dtype"])
    elif w["bf16"]:
        kwargs["dtype"] = torch.bfloat16
    model = auto.from_pretrained(w["model"], **kwargs)
    if w["gradient_checkpointing"]:
        model.config.use_cache = False
    if w["finetuning"] in ("lora", "qlora"):
        from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

        if w["finetuning"] == "qlora":
            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=w["gradient_checkpointing"])
        lo = w["lora"]
        targets = lo["target_modules"]
        cfg = LoraConfig(
            r=lo["rank"], lora_alpha=lo["alpha"], lora_dropout=lo["dropout"],
            target_modules="all-linear" if targets == ["all-linear"] else targets,
            modules_to_save=lo["modules_to_save"] or None,
            task_type=TaskType.SEQ_2_SEQ_LM if w["model_type"] == "seq2seq" else TaskType.CAUSAL_LM,
        )
        try:
            model = get_peft_model(model, cfg)
        except ValueError as e:
            raise UserError(f"with.lora.target_modules: {e}") from None
        if is_main_process():
            model.print_trainable_parameters()
    return model, tokenizer


class Dataset:
    def __init__(self, items: list[dict]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


class Collator:
    """Right-pads a batch; counts real tokens for tokens_per_s."""

    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id
        self.tokens = 0

    def __call__(self, batch: list[dict]) -> dict:
        import torch

        n = max(len(b["input_ids"]) for b in batch)
        ids = [b["input_ids"] + [self.pad_id] * (n - len(b["input_ids"])) for b in batch]
        mask = [[1] * len(b["input_ids"]) + [0] * (n - len(b["input_ids"])) for b in batch]
        self.tokens += sum(len(b["input_ids"]) for b in batch)
        out = {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}
        m = max(len(b["labels"]) for b in batch)
        if "decoder" in batch[0]:
            out["labels"] = torch.tensor([b["labels"] + [-100] * (m - len(b["labels"])) for b in batch])
        else:
            out["labels"] = torch.tensor([b["labels"] + [-100] * (n - len(b["labels"])) for b in batch])
        return out


def encode_all(w: dict, records: list[dict], tokenizer) -> list[dict]:
    items = []
    for r in records:
        if w["model_type"] == "seq2seq":
            e = encode_seq2seq(r, tokenizer, w["max_source_length"], w["max_target_length"])
            e["decoder"] = True
        else:
            e = encode_causal(r, w["template"], tokenizer, w["max_source_length"], w["max_target_length"])
        if any(x != -100 for x in e["labels"]):
            items.append(e)
    if not items:
        raise UserError("with.train_file: no record has a non-empty response to train on")
    return items


def latest_checkpoint(folder: Path) -> Path | None:
    """The newest checkpoint that was written completely: the Trainer writes
    trainer_state.json last, so a folder without it died mid-save."""
    done = [d for d in folder.glob("checkpoint-*") if (d / "trainer_state.json").is_file()]
    done = [d for d in done if d.name.split("-")[-1].isdigit()]
    return max(done, key=lambda d: int(d.name.split("-")[-1]), default=None)


def make_callback(collator: Collator, history: list[dict]):
    from transformers import TrainerCallback

    class FlowEvents(TrainerCallback):
        def __init__(self) -> None:
            self.t0 = time.time()
            self.tok0 = 0
            self.last: dict = {}

        def on_train_begin(self, args, state, control, **kw):
            self.t0, self.tok0 = time.time(), collator.tokens
            if state.global_step:
                log(f"sft: resumed at step {state.global_step} of {state.max_steps}")
                events.emit("resumed", step=state.global_step)

        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                self.last = {"loss": float(logs["loss"]), "lr": float(logs.get("learning_rate", 0.0))}
                history.append({"step": state.global_step, **self.last})
                events.emit("loss", step=state.global_step, **self.last)

        def on_step_end(self, args, state, control, **kw):
            dt = max(time.time() - self.t0, 1e-6)
            events.progress(state.global_step, state.max_steps, "step",
                            tokens_per_s=round((collator.tokens - self.tok0) / dt, 1), **self.last)

        def on_save(self, args, state, control, **kw):
            events.artifact("checkpoint", Path(args.output_dir) / f"checkpoint-{state.global_step}")

    return FlowEvents()


def run(p) -> None:
    w = p.with_
    check_gpu_options(w)
    if w["model_type"] == "seq2seq" and w["finetuning"] == "qlora":
        raise UserError("with.finetuning: qlora is for causal models; use lora or full with model_type: seq2seq")
    from transformers import Trainer, TrainingArguments, set_seed

    set_seed(w["seed"])
    ds_cfg = deepspeed_config(w)
    model, tokenizer = load_model(w)
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
    # Under a launcher, leave together: a rank that exits while rank 0 still saves can make
    # gloo/NCCL abort the group (seen as SIGABRT in a CPU torchrun run).
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


if __name__ == "__main__":
    main("sft", run)
