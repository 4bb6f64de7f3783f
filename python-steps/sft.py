"""python:sft: supervised fine-tuning with the transformers Trainer.

finetuning: lora | qlora | full; model_type: causal | seq2seq. Loss on the
response tokens only. Checkpoints go to a directory keyed by the step's cache
key (flow_runtime.runtime.checkpoint_dir), so a re-run after a crash resumes from the
last complete checkpoint instead of step 0. Distributed runs come from the
launcher the engine wraps this script in (torchrun / deepspeed / accelerate);
DeepSpeed ZeRO and AutoTP tensor parallelism are set through the DeepSpeed
config the Trainer receives (on CPU: DeepSpeed's CPU accelerator over gloo).
The result is saved with the Trainer's gathering save and then reloaded and
compared with the trained model (flow_runtime.load_check) before the step ends.
The examples come encoded from python:tokenize (`tokenized`) or are encoded here
from `train_file`; `packing` and `group_by_length` (flow_runtime.packing) cut the
padding.
"""

from __future__ import annotations

import math
import shutil
import time

from flow_runtime import UserError, checkpoint_dir, cuda_available, events, log, main, tokenized, write_json
from flow_runtime.data import Collator, Dataset, encode_all, read_records, with_system
from flow_runtime.distributed import deepspeed_config, leave_together
from flow_runtime.load_check import check_reload
from flow_runtime.modeling import computes_in_half, load_for_training, load_trained
from flow_runtime.packing import PackedCollator, check_kept_apart, pack, response_logits_work, singletons, use_packed_sdpa
from flow_runtime.parity import write_manifest
from flow_runtime.training import commit_checkpoints, latest_checkpoint, make_callback


def run(p) -> None:
    w = p.with_
    ds_cfg = deepspeed_config(w)
    from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

    set_seed(w["seed"])
    pretokenized = load_tokenized(w)
    model, tokenizer = load_for_training(w)
    # Records are read here unless a python:tokenize dataset brings the ids (then no parity sample is kept).
    records = None if pretokenized else with_system(read_records(w["train_file"], "train_file", need_output=True), w["system"])
    items = pretokenized["train"] if pretokenized else encode_all(w, records, tokenizer)
    train_items, eval_items = split_eval(w, items, tokenizer, pretokenized)
    collator = Collator(tokenizer.pad_token_id)
    train_data, eval_data = train_items, eval_items
    if w["packing"]:
        # The KV cache would make transformers build a plain causal mask over the whole row.
        model.config.use_cache = False
        # Attention per example instead of over the whole row (sdpa / eager models); then a batch's
        # rows go as one unpadded row, and the LM head and loss run on the response positions only.
        flat = use_packed_sdpa(model)
        whole = not (ds_cfg and w.get("deepspeed") == "zero3")  # ZeRO-3 weights are not whole before the Trainer
        if whole:
            check_kept_apart(model, train_items, next(model.parameters()).device)
        kept = flat and whole and response_logits_work(model, train_items, next(model.parameters()).device)
        if flat:
            log(f"sft: packed rows attend per example (flow_packed_sdpa), a batch's rows as one unpadded row, "
                f"{'logits on response positions only' if kept else 'logits on every position'}")
        collator = PackedCollator(tokenizer.pad_token_id, flat=flat, response_logits=kept)
        train_data = pack(train_items, w["max_source_length"] + w["max_target_length"])
        eval_data = singletons(eval_items)
    history: list[dict] = []
    ckpt = checkpoint_dir(p)
    ckpt.mkdir(parents=True, exist_ok=True)
    args = TrainingArguments(output_dir=str(ckpt), deepspeed=ds_cfg, use_cpu=not cuda_available(),
                             **trainer_settings(w, evaluate=bool(eval_items)), report_to=report_to(p))
    trainer = Trainer(model=model, args=args, train_dataset=Dataset(train_data),
                      eval_dataset=Dataset(eval_data) if eval_items else None, data_collator=collator,
                      processing_class=tokenizer, callbacks=[make_callback(collator, history)])
    # The Trainer prints its {'loss': ...} dicts on stdout, where the plain output would show each one:
    # make_callback sends the same lines to the step's log only.
    trainer.remove_callback(PrinterCallback)
    trainable, total = parameter_counts(model)
    log(f"sft: {w['finetuning']} on {len(train_items)} examples"
        f"{f' packed into {len(train_data)} rows' if w['packing'] else ''}"
        f"{f' ({len(eval_items)} held out for eval_loss)' if eval_items else ''}, "
        f"{trainable:,} of {total:,} parameters trained, world size {args.world_size}, device {args.device}")
    resume = latest_checkpoint(ckpt)
    if resume:
        log(f"sft: resuming from {resume}")
    t0 = time.time()
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    elapsed = time.time() - t0

    what = "model" if w["finetuning"] == "full" else "adapter"
    out = p.output(what)
    # The Trainer's save gathers ZeRO-3 shards and AutoTP slices (a rank's own
    # model.save_pretrained would write its empty or partial piece).
    trainer.save_model(str(out))
    if w["load_check"]:
        check_reload(trainer.model, Collator(tokenizer.pad_token_id)(items[:2]), args.device,
                     lambda: load_trained(w, str(out)), what, tp=w["tp"], half=computes_in_half(w))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(out))
        if records is not None:
            # A sample of the prompts trained on, for predict's parity check.
            write_manifest(out, w, records, tokenizer)
        write_results(p, w, trainer, result, history, resume, elapsed, len(train_items), collator,
                      len(train_data) if w["packing"] else None)
        if w["save_checkpoints"]:
            commit_checkpoints(ckpt, p.outputs)
        events.artifact(what, out)
        if not w["keep_checkpoints"]:
            # The result is committed by the engine; the checkpoints only served a crash.
            shutil.rmtree(ckpt, ignore_errors=True)
    leave_together()


def report_to(p) -> list[str]:
    """The recipe's trackers (report_to:), as LLaMA-Factory's report_to reaches the Trainer, attached
    to the flow run's tracker run; none unless the recipe names them. Rank 0 logs (the Trainer's
    callbacks do on the main process only)."""
    if not p.report_to or not p.tracker_run:
        return []
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return list(p.report_to)  # the callbacks stay silent there: no tracker run to find or make
    from flow_trackers import trainer_report_to

    return trainer_report_to(p.report_to, p.tracker_run)


def parameter_counts(model) -> tuple[int, int]:
    """(trainable, all) parameters, counted as peft counts them (ZeRO-3 partitions included)."""
    if hasattr(model, "get_nb_trainable_parameters"):
        return model.get_nb_trainable_parameters()
    sizes = [(getattr(t, "ds_numel", 0) or t.numel(), t.requires_grad) for t in model.parameters()]
    return sum(n for n, g in sizes if g), sum(n for n, _ in sizes)


def load_tokenized(w: dict) -> dict | None:
    """The python:tokenize dataset's splits, its settings taking the place of sft's own (template,
    lengths); None when training from train_file."""
    if not w.get("tokenized"):
        return None
    meta, splits = tokenized.load(w["tokenized"], w["model"])
    if meta["model_type"] != w["model_type"]:
        raise UserError(f"with.tokenized: tokenized for model_type {meta['model_type']}, this step trains {w['model_type']}")
    w.update({k: meta[k] for k in ("template", "max_source_length", "max_target_length")})
    return splits


def trainer_settings(w: dict, evaluate: bool) -> dict:
    """TrainingArguments from `with:` (besides paths, devices and DeepSpeed)."""
    warmup = w["warmup_steps"] if w["warmup_steps"] else w["warmup_ratio"]
    return dict(
        per_device_train_batch_size=w["batch_size"],
        per_device_eval_batch_size=w["batch_size"],
        gradient_accumulation_steps=w["gradient_accumulation_steps"],
        num_train_epochs=w["epochs"],
        max_steps=w["max_steps"] or -1,
        learning_rate=w["learning_rate"],
        weight_decay=w["weight_decay"],
        lr_scheduler_type=w["scheduler"],
        lr_scheduler_kwargs=scheduler_kwargs(w),
        optim=w["optim"],
        warmup_steps=warmup,
        max_grad_norm=w["max_grad_norm"],
        bf16=w["bf16"],
        fp16=w["fp16"],
        activation_checkpointing=w["gradient_checkpointing"],
        seed=w["seed"],
        logging_steps=w["logging_steps"],
        eval_strategy="steps" if evaluate else "no",
        eval_steps=w["eval_steps"] if evaluate else None,
        save_strategy="steps",
        save_steps=w["save_steps"],
        # Every checkpoint is kept until committed when they are outputs (save_checkpoints).
        save_total_limit=None if w["save_checkpoints"] else w["save_total_limit"],
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        train_sampling_strategy="group_by_length" if w["group_by_length"] else "random",
    )


def scheduler_kwargs(w: dict) -> dict:
    if w["scheduler"] == "cosine_with_restarts":
        return {"num_cycles": w["num_cycles"]}
    if w["scheduler"] == "cosine_with_min_lr":
        # As a ratio of the initial rate, which is what transformers computes from min_lr, but
        # from optimizer.defaults, which a DeepSpeed ZeRO optimizer does not have.
        return {"min_lr_rate": w["min_lr"] / w["learning_rate"]}
    return {}


def split_eval(w: dict, items: list[dict], tokenizer, pretokenized: dict | None = None) -> tuple[list[dict], list[dict]]:
    """(train, eval) items: `eval_file` (or the tokenized dataset's eval split) when given, else
    `val_size` held out of the training records (a fraction below 1, or a count), as LLaMA-Factory's val_size."""
    if pretokenized and "eval" in pretokenized:
        return items, pretokenized["eval"]
    if w.get("eval_file"):
        return items, encode_all(w, with_system(read_records(w["eval_file"], "eval_file", need_output=True), w["system"]), tokenizer)
    n = held_out_count(w["val_size"], len(items))
    if n == 0:
        return items, []
    if n >= len(items):
        raise UserError(f"with.val_size: {w['val_size']} leaves no training example of {len(items)}")
    import random

    order = list(range(len(items)))
    random.Random(w["seed"]).shuffle(order)
    held = set(order[:n])
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]


def held_out_count(val_size: float, total: int) -> int:
    return int(val_size) if val_size >= 1 else int(round(val_size * total))


def write_results(p, w: dict, trainer, result, history: list[dict], resume, elapsed: float, examples: int,
                  collator, packed_rows: int | None) -> None:
    # Prior runs' losses (before a resume) live in the checkpoint's state.
    full_history = [{"step": h["step"], "loss": h["loss"], "lr": h.get("learning_rate", 0.0)}
                    for h in trainer.state.log_history if "loss" in h]
    full_history += [{"step": h["step"], "eval_loss": h["eval_loss"]}
                     for h in trainer.state.log_history if "eval_loss" in h]
    full_history.sort(key=lambda h: h["step"])
    losses = full_history or history
    train_losses = [h["loss"] for h in losses if "loss" in h]
    eval_losses = [h["eval_loss"] for h in losses if "eval_loss" in h]
    write_json(p.output("loss_history"), losses)
    metrics = {
        "train_loss": result.training_loss,
        "final_loss": train_losses[-1] if train_losses else None,
        "steps": trainer.state.global_step,
        "resumed_from": int(resume.name.split("-")[-1]) if resume else 0,
        "train_seconds": round(elapsed, 2),
        "examples": examples,
        # This run's real (non-pad) tokens and the share of batch slots that were padding.
        "tokens_per_s": round(collator.tokens / max(elapsed, 1e-6), 1),
        "padding_fraction": round(1 - collator.tokens / collator.slots, 4) if collator.slots else 0.0,
    }
    if packed_rows is not None:
        metrics["packed_rows"] = packed_rows
    if eval_losses:
        metrics["eval_loss"] = eval_losses[-1]
        events.metric("eval_loss", eval_losses[-1])
    write_json(p.output("metrics"), metrics)
    events.metric("train_loss", result.training_loss)
    steps_per_epoch = math.ceil((packed_rows or examples) / (w["batch_size"] * w["gradient_accumulation_steps"]))
    log(f"sft: {trainer.state.global_step} steps ({steps_per_epoch}/epoch) in {elapsed:.1f}s, "
        f"train loss {result.training_loss:.4f}" + (f", eval loss {eval_losses[-1]:.4f}" if eval_losses else ""))


if __name__ == "__main__":
    main("sft", run)
