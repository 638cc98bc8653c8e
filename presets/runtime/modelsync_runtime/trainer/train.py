"""LoRA / QLoRA fine-tuning with peft and transformers' Trainer.

Layout under the output directory (docs/contracts.md section 4): ``checkpoints/checkpoint-N``
while training, the adapter (``adapter_config.json``, ``adapter_model.safetensors``) at the
top when done, and ``.modelsync-complete`` (JSON) last, so its presence means the adapter is
whole. A Job pod that dies and comes back resumes from the newest complete checkpoint.

stdout carries only JSON lines (``{"event": ...}``): start, log (loss, learning rate, ...),
checkpoint, train_end, eval, done. Library chatter goes to stderr.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import peft
import torch
import transformers

from modelsync_runtime.errors import ConfigError
from modelsync_runtime.trainer import CHECKPOINTS, MARKER
from modelsync_runtime.trainer.config import TrainingConfig
from modelsync_runtime.trainer.data import IGNORE_INDEX, prepare_datasets

__all__ = ["MARKER", "TrainJob", "emit", "last_checkpoint", "run"]

_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")

# Used where TrainingArguments does not say otherwise. `output_dir` is not a default: it is
# always the checkpoints folder, since the chart mounts the output volume at a fixed path.
_ARGUMENT_DEFAULTS: Mapping[str, Any] = {
    "report_to": "none",
    "logging_steps": 10,
    "logging_first_step": True,
    "save_strategy": "steps",
    "save_steps": 100,
    "save_total_limit": 2,
    "disable_tqdm": True,
}


@dataclass(frozen=True)
class TrainJob:
    """One training run: the merged config and where things are."""

    config: TrainingConfig
    model: str
    data_dir: Path
    output_dir: Path

    @property
    def checkpoints_dir(self) -> Path:
        return self.output_dir / CHECKPOINTS

    @property
    def method(self) -> str:
        return "qlora" if self.config.quantized else "lora"


def emit(event: str, **fields: Any) -> None:
    """One JSON line on stdout, flushed so a log shipper sees it at once."""
    print(json.dumps({"event": event, **fields}, default=str), flush=True)


def last_checkpoint(checkpoints_dir: Path) -> Path | None:
    """The newest checkpoint whose trainer state was written (a kill mid-save leaves none)."""
    if not checkpoints_dir.is_dir():
        return None
    complete = [
        (int(match.group(1)), child)
        for child in checkpoints_dir.iterdir()
        if (match := _CHECKPOINT_DIR.match(child.name)) and (child / "trainer_state.json").is_file()
    ]
    return max(complete)[1] if complete else None


class JsonLinesCallback(transformers.TrainerCallback):
    """Writes the Trainer's logs and saves as JSON lines."""

    def on_log(
        self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **kw: Any
    ) -> None:
        emit("log", step=state.global_step, **dict(logs or {}))

    def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        emit(
            "checkpoint",
            step=state.global_step,
            path=f"{args.output_dir}/checkpoint-{state.global_step}",
        )


def _dtype(value: Any) -> Any:
    if not isinstance(value, str) or value == "auto":
        return value
    dtype = getattr(torch, value, None)
    if not isinstance(dtype, torch.dtype):
        raise ConfigError(f"ModelConfig: unknown torch dtype {value!r}")
    return dtype


def _load_tokenizer(job: TrainJob) -> Any:
    options = job.config.model
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        job.model,
        revision=options.get("revision"),
        trust_remote_code=bool(options.get("trust_remote_code", False)),
        local_files_only=bool(options.get("local_files_only", False)),
    )
    template = options.get("chat_template")
    if template:
        # KAITO accepts a file path or the template itself.
        path = Path(str(template))
        tokenizer.chat_template = (
            path.read_text(encoding="utf-8") if path.is_file() else str(template)
        )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    return tokenizer


def _load_model(job: TrainJob, gradient_checkpointing: bool) -> Any:
    kwargs = {
        key: value
        for key, value in job.config.model.items()
        if key
        not in {"pretrained_model_name_or_path", "chat_template", "load_in_4bit", "load_in_8bit"}
    }
    if "torch_dtype" in kwargs:  # KAITO's name; transformers 5 calls it dtype
        kwargs["dtype"] = kwargs.pop("torch_dtype")
    if "dtype" in kwargs:
        kwargs["dtype"] = _dtype(kwargs["dtype"])
    if job.config.quantized:
        quantization = {k: v for k, v in job.config.quantization.items() if k != "quant_method"}
        kwargs["quantization_config"] = transformers.BitsAndBytesConfig(**quantization)
    model = transformers.AutoModelForCausalLM.from_pretrained(job.model, **kwargs)
    if job.config.quantized:
        model = peft.prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing
        )
    elif gradient_checkpointing:
        # Checkpointed activations need an input that requires grad, which frozen
        # embeddings under LoRA do not provide by themselves.
        model.enable_input_require_grads()
    try:
        lora = peft.LoraConfig(task_type="CAUSAL_LM", **job.config.lora)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"LoraConfig: {e}") from e
    return peft.get_peft_model(model, lora)


def _training_arguments(job: TrainJob) -> Any:
    given = dict(job.config.training_arguments)
    if given.pop("output_dir", None) not in (None, str(job.checkpoints_dir)):
        emit("note", message=f"TrainingArguments.output_dir is always {job.checkpoints_dir}")
    try:
        # Pinned host memory only helps copies to a GPU; without one torch warns about it.
        defaults = {**_ARGUMENT_DEFAULTS, "dataloader_pin_memory": torch.cuda.is_available()}
        return transformers.TrainingArguments(
            output_dir=str(job.checkpoints_dir), **{**defaults, **given}
        )
    except (TypeError, ValueError) as e:
        raise ConfigError(f"TrainingArguments: {' '.join(str(e).split())}") from e


def _write_marker(output_dir: Path, content: Mapping[str, Any]) -> Path:
    marker = output_dir / MARKER
    partial = output_dir / f"{MARKER}.partial"
    partial.write_text(json.dumps(content, indent=2, default=str) + "\n", encoding="utf-8")
    partial.replace(marker)  # atomic: a reader never sees half a marker
    return marker


def run(job: TrainJob) -> dict[str, Any]:
    """Train, save the adapter and the completion marker; returns the marker's content."""
    arguments = _training_arguments(job)
    tokenizer = _load_tokenizer(job)
    train_set, eval_set = prepare_datasets(job.data_dir, job.config.dataset, tokenizer)
    if eval_set is None and getattr(arguments.eval_strategy, "value", "no") != "no":
        raise ConfigError(
            "TrainingArguments.eval_strategy needs held-out data: "
            "set DatasetConfig.train_test_split below 1"
        )
    model = _load_model(job, bool(arguments.gradient_checkpointing))
    collator = transformers.DataCollatorForSeq2Seq(
        tokenizer,
        label_pad_token_id=IGNORE_INDEX,
        pad_to_multiple_of=job.config.pad_to_multiple_of,
    )
    trainer = transformers.Trainer(
        model=model,
        args=arguments,
        train_dataset=train_set,
        eval_dataset=eval_set,
        data_collator=collator,
        callbacks=[JsonLinesCallback()],
    )
    # The Trainer prints its log dicts to stdout without tqdm; stdout is for JSON lines.
    trainer.remove_callback(transformers.PrinterCallback)
    resume = last_checkpoint(job.checkpoints_dir)
    resumed_step = (
        json.loads((resume / "trainer_state.json").read_text())["global_step"] if resume else 0
    )
    emit(
        "start",
        model=job.model,
        method=job.method,
        device=str(arguments.device),
        train_examples=len(train_set),
        eval_examples=len(eval_set) if eval_set is not None else 0,
        resume_from=str(resume) if resume else None,
        resumed_step=resumed_step,
    )
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    emit("train_end", global_step=trainer.state.global_step, **result.metrics)
    eval_metrics = trainer.evaluate() if eval_set is not None else {}
    if eval_metrics:
        emit("eval", **eval_metrics)
    model.save_pretrained(str(job.output_dir))
    content = {
        "baseModel": job.model,
        "method": job.method,
        "globalStep": trainer.state.global_step,
        "resumedFromStep": resumed_step,
        "trainLoss": result.metrics.get("train_loss"),
        "evalLoss": eval_metrics.get("eval_loss"),
        "trainSamplesPerSecond": result.metrics.get("train_samples_per_second"),
        "adapterFiles": sorted(p.name for p in job.output_dir.glob("adapter_*")),
        "completedAt": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    marker = _write_marker(job.output_dir, content)
    emit("done", marker=str(marker), **content)
    return content
