"""Models and tokenizers as sft, merge and predict load them: dtypes, the Auto
class of a model type, the pad token, LoRA / QLoRA wrapping and adapters."""

from __future__ import annotations

from .errors import UserError
from .packages import require_module
from .ranks import local_rank

DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")


def dtype_of(name: str):
    """A torch dtype by name; "auto" passes through (transformers takes the checkpoint's)."""
    import torch

    if name == "auto":
        return "auto"
    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def auto_class(seq2seq: bool):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    return AutoModelForSeq2SeqLM if seq2seq else AutoModelForCausalLM


def load_tokenizer(source: str, fallback: str | None = None):
    """The tokenizer of `source` (an adapter folder carries the one it trained with), else of
    `fallback`; the eos token pads when the tokenizer has no pad token."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
    except (OSError, ValueError):
        if fallback is None:
            raise
        tokenizer = AutoTokenizer.from_pretrained(fallback)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def quantization_config(q: dict):
    """4-bit bitsandbytes settings of `with.qlora`."""
    require_module("bitsandbytes", "finetuning: qlora")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=q["quant_type"],
        bnb_4bit_use_double_quant=q["double_quant"],
        bnb_4bit_compute_dtype=dtype_of(q["compute_dtype"]),
    )


def lora_config(lo: dict, seq2seq: bool):
    from peft import LoraConfig, TaskType

    targets = lo["target_modules"]
    return LoraConfig(
        r=lo["rank"], lora_alpha=lo["alpha"], lora_dropout=lo["dropout"],
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        modules_to_save=lo["modules_to_save"] or None,
        task_type=TaskType.SEQ_2_SEQ_LM if seq2seq else TaskType.CAUSAL_LM,
    )


def computes_in_half(w: dict) -> bool:
    """Whether `python:sft`'s forward runs in half precision: bf16 / fp16 mixed precision, or QLoRA
    with a half compute dtype."""
    return bool(w["bf16"] or w["fp16"] or (w["finetuning"] == "qlora" and w["qlora"]["compute_dtype"] != "float32"))


def load_base(w: dict):
    """The base model as `python:sft` trains it: 4-bit for qlora (on this rank's GPU under a
    launcher, so N ranks do not all quantize onto cuda:0), bf16 when asked."""
    import torch

    kwargs: dict = {}
    if w["finetuning"] == "qlora":
        kwargs["quantization_config"] = quantization_config(w["qlora"])
        kwargs["dtype"] = dtype_of(w["qlora"]["compute_dtype"])
        if torch.cuda.is_available():
            kwargs["device_map"] = {"": local_rank()}
    elif w["bf16"]:
        kwargs["dtype"] = torch.bfloat16
    model = auto_class(w["model_type"] == "seq2seq").from_pretrained(w["model"], **kwargs)
    if w["finetuning"] == "qlora":
        from peft import prepare_model_for_kbit_training

        keep_4bit_trainable(model)

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=w["gradient_checkpointing"])
    return model


def keep_4bit_trainable(model) -> None:
    """bitsandbytes (>= 0.49) on a CPU with AVX512-BF16: a Linear4bit whose forward runs in eval mode
    without grad repacks its weight in place, for good, into the layout of an inference kernel
    (gemv_4bit) that has no autograd; every later forward, training included, takes that kernel. The
    Trainer's first evaluation would do it: layers with a bias (Qwen2) then crash in backward, bias-free
    ones (Llama, Qwen3, T5) train nothing. The library reads the flag below on each forward: off, every
    forward takes the dequantizing path that trains, as on a CPU without AVX512-BF16."""
    from bitsandbytes.nn import Linear4bit

    for module in model.modules():
        if isinstance(module, Linear4bit):
            module.support_avx512bf16_for_cpu = False


def load_for_training(w: dict):
    """(model, tokenizer) for `python:sft`: the base model, wrapped in LoRA for lora/qlora."""
    tokenizer = load_tokenizer(w["model"])
    model = load_base(w)
    if w["gradient_checkpointing"]:
        model.config.use_cache = False
    if w["finetuning"] in ("lora", "qlora"):
        from peft import get_peft_model

        try:
            model = get_peft_model(model, lora_config(w["lora"], w["model_type"] == "seq2seq"))
        except ValueError as e:
            raise UserError(f"with.lora.target_modules: {e}") from None
    return model, tokenizer


def load_trained(w: dict, out: str):
    """What `python:sft` saved in `out`, loaded back the way a later step loads it: the full model
    folder, or the adapter on the base model."""
    if w["finetuning"] == "full":
        import torch

        dtype = torch.bfloat16 if w["bf16"] else None
        return auto_class(w["model_type"] == "seq2seq").from_pretrained(out, **({"dtype": dtype} if dtype else {}))
    return attach_adapter(load_base(w), out)


def adapter_is_seq2seq(adapter: str) -> bool:
    from peft import PeftConfig

    return PeftConfig.from_pretrained(str(adapter)).task_type == "SEQ_2_SEQ_LM"


def attach_adapter(model, adapter: str):
    """`model` with the PEFT adapter folder `adapter` on top."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(adapter))
