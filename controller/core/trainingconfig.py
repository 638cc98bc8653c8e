"""KAITO's training configuration (the tuning ``config``): sections, defaults and sanity rules.

KAITO keeps it in a ConfigMap as ``training_config: {ModelConfig, QuantizationConfig,
LoraConfig, TrainingArguments, DataCollator, DatasetConfig}``. A Workspace may carry the
same inline; these rules catch values PEFT or transformers would only reject (or silently
misuse) hours into a GPU Job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

SECTIONS = (
    "ModelConfig",
    "QuantizationConfig",
    "LoraConfig",
    "TrainingArguments",
    "DataCollator",
    "DatasetConfig",
)

Problem = tuple[tuple[str, ...], str]


def sections_of(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """KAITO's ConfigMap wraps the sections in ``training_config``; accept both forms."""
    inner = config.get("training_config")
    return inner if isinstance(inner, Mapping) else config


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _module_list(value: Any) -> bool:
    return value == "all-linear" or (
        isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
    )


@dataclass(frozen=True)
class _Rule:
    section: str
    key: str
    ok: Callable[[Any], bool]
    expect: str
    method: str | None = None  # only for this tuning method


_RULES = (
    _Rule("LoraConfig", "r", _integer(1, 256), "an integer in [1, 256]"),
    _Rule("LoraConfig", "lora_alpha", lambda v: _number(v) and v > 0, "a number > 0"),
    _Rule("LoraConfig", "lora_dropout", lambda v: _number(v) and 0 <= v < 1, "in [0, 1)"),
    _Rule(
        "LoraConfig",
        "target_modules",
        _module_list,
        "a non-empty list of module names or 'all-linear'",
    ),
    _Rule(
        "QuantizationConfig",
        "load_in_4bit",
        lambda v: v is not False,
        "true: QLoRA loads the base model in 4 bit",
        "qlora",
    ),
    _Rule(
        "QuantizationConfig",
        "load_in_8bit",
        lambda v: not v,
        "false: QLoRA loads the base model in 4 bit",
        "qlora",
    ),
    _Rule(
        "QuantizationConfig",
        "load_in_4bit",
        lambda v: not v,
        "false for LoRA (quantized base weights are QLoRA: set method: qlora)",
        "lora",
    ),
    _Rule(
        "QuantizationConfig",
        "load_in_8bit",
        lambda v: not v,
        "false for LoRA (quantized base weights are QLoRA: set method: qlora)",
        "lora",
    ),
    _Rule(
        "QuantizationConfig",
        "bnb_4bit_quant_type",
        lambda v: v in ("nf4", "fp4"),
        "nf4 or fp4",
        "qlora",
    ),
    _Rule(
        "QuantizationConfig",
        "bnb_4bit_compute_dtype",
        lambda v: v in ("bfloat16", "float16", "float32"),
        "bfloat16, float16 or float32",
        "qlora",
    ),
    _Rule("TrainingArguments", "learning_rate", lambda v: _number(v) and 0 < v < 1, "in (0, 1)"),
    _Rule("TrainingArguments", "num_train_epochs", lambda v: _number(v) and v > 0, "> 0"),
    _Rule(
        "TrainingArguments", "per_device_train_batch_size", _integer(1, 4096), "a positive integer"
    ),
    _Rule(
        "TrainingArguments", "gradient_accumulation_steps", _integer(1, 4096), "a positive integer"
    ),
)


def problems(sections: Mapping[str, Any], *, method: str, context_length: int) -> list[Problem]:
    """(path inside the config, message) for each value that breaks a rule."""
    found: list[Problem] = []
    for name, section in sections.items():
        if name not in SECTIONS:
            found.append(((name,), f"unknown section {name!r}"))
        elif not isinstance(section, Mapping):
            found.append(((name,), "must be a mapping"))
    for rule in _RULES:
        section = sections.get(rule.section)
        if rule.method not in (None, method) or not isinstance(section, Mapping):
            continue
        value = section.get(rule.key)
        if value is not None and not rule.ok(value):  # null removes a default: always fine
            found.append(((rule.section, rule.key), f"must be {rule.expect}, got {value!r}"))
    dataset = sections.get("DatasetConfig")
    if isinstance(dataset, Mapping) and "max_seq_length" in dataset:
        length = dataset["max_seq_length"]
        if not _integer(16, context_length)(length):
            found.append(
                (
                    ("DatasetConfig", "max_seq_length"),
                    f"must be an integer in [16, {context_length}], got {length!r}",
                )
            )
    return found


def default_config(method: str, target_modules: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The sections a tuning Job starts from, before the Workspace's own config.

    KAITO's LoRA/QLoRA defaults (bf16 weights, NF4 with double quantisation for QLoRA),
    with gradient checkpointing on so the sizing's activation estimate holds.
    """
    config: dict[str, dict[str, Any]] = {
        "ModelConfig": {"torch_dtype": "bfloat16", "device_map": "auto"},
        "LoraConfig": {
            "r": 8,
            "lora_alpha": 16,
            "lora_dropout": 0.05,
            "target_modules": list(target_modules),
        },
        "TrainingArguments": {
            "num_train_epochs": 1,
            "per_device_train_batch_size": 1,
            "gradient_accumulation_steps": 4,
            "learning_rate": 0.0002,
            "gradient_checkpointing": True,
            "logging_steps": 10,
            "save_strategy": "steps",
            "save_steps": 100,
            "save_total_limit": 2,
        },
        "DataCollator": {"mlm": False},
        "DatasetConfig": {"shuffle_dataset": True, "train_test_split": 1.0, "max_seq_length": 2048},
    }
    if method == "qlora":
        config["QuantizationConfig"] = {
            "load_in_4bit": True,
            "bnb_4bit_quant_type": "nf4",
            "bnb_4bit_compute_dtype": "bfloat16",
            "bnb_4bit_use_double_quant": True,
        }
    return config


def merge(
    base: Mapping[str, Mapping[str, Any]], override: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Key by key inside each section, the override winning; a null removes the key.

    The trainer merges its ``--config`` files by the same rule.
    """
    merged = {name: dict(section) for name, section in base.items()}
    for name, section in override.items():
        if not isinstance(section, Mapping):
            continue
        target = merged.setdefault(name, {})
        for key, value in section.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    return merged
