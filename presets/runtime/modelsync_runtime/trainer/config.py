"""The trainer's input: KAITO's training config, merged from several files and validated.

KAITO's file is ``training_config: {ModelConfig: ..., QuantizationConfig: ..., LoraConfig:
..., TrainingArguments: ..., DataCollator: ..., DatasetConfig: ...}``. The chart mounts the
preset defaults merged with the Workspace's inline config, and optionally the Workspace's own
ConfigMap on top; ``--config`` files are merged in order, later files winning key by key
inside each section (a ``null`` value removes the key, so an override can return a setting
to its library default). Sections other than DatasetConfig and DataCollator are handed to the
library that owns them (transformers, peft, bitsandbytes), which judges their keys.

Pure: no torch, no filesystem beyond reading the given files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelsync_runtime.errors import ConfigError

__all__ = [
    "SECTIONS",
    "DatasetSettings",
    "TrainingConfig",
    "load_training_config",
    "merge_sections",
    "parse_training_config",
]

SECTIONS = (
    "ModelConfig",
    "QuantizationConfig",
    "LoraConfig",
    "TrainingArguments",
    "DataCollator",
    "DatasetConfig",
)
Sections = dict[str, dict[str, Any]]

# Keys of DataCollator the trainer understands. KAITO's defaults carry `mlm`, which makes no
# sense for a causal LM: it is accepted and ignored (the collator is always causal).
_COLLATOR_KEYS = frozenset({"mlm", "mlm_probability", "pad_to_multiple_of"})


@dataclass(frozen=True)
class DatasetSettings:
    """KAITO's DatasetConfig (same defaults), plus ``max_seq_length`` (tokens kept per example)."""

    dataset_path: str = ""
    dataset_extension: str = ""
    shuffle_dataset: bool = True
    shuffle_seed: int = 42
    context_column: str = ""
    response_column: str = "text"
    messages_column: str = ""
    train_test_split: float = 0.8
    max_seq_length: int = 1024


_DATASET_TYPES: dict[str, type | tuple[type, ...]] = {
    "dataset_path": str,
    "dataset_extension": str,
    "shuffle_dataset": bool,
    "shuffle_seed": int,
    "context_column": str,
    "response_column": str,
    "messages_column": str,
    "train_test_split": (int, float),
    "max_seq_length": int,
}


@dataclass(frozen=True)
class TrainingConfig:
    """The merged sections; the library-owned ones stay plain mappings."""

    model: Mapping[str, Any] = field(default_factory=dict)
    quantization: Mapping[str, Any] = field(default_factory=dict)
    lora: Mapping[str, Any] = field(default_factory=dict)
    training_arguments: Mapping[str, Any] = field(default_factory=dict)
    pad_to_multiple_of: int | None = None
    dataset: DatasetSettings = DatasetSettings()

    @property
    def quantized(self) -> bool:
        """QLoRA: the base model is loaded in 4 or 8 bits through bitsandbytes."""
        return bool(self.quantization.get("load_in_4bit") or self.quantization.get("load_in_8bit"))


def _sections_of(document: Any, source: str) -> Sections:
    if document is None:
        return {}
    if not isinstance(document, Mapping):
        raise ConfigError(f"{source}: the document must be a mapping")
    # KAITO wraps the sections in `training_config:`; a bare override file may not.
    body: Any = document
    if "training_config" in document:
        extra = sorted(str(key) for key in document if key != "training_config")
        if extra:
            raise ConfigError(f"{source}: unknown top-level keys {', '.join(extra)}")
        body = document["training_config"]
    if body is None:
        return {}
    if not isinstance(body, Mapping):
        raise ConfigError(f"{source}: training_config must be a mapping")
    unknown = sorted(str(key) for key in body if key not in SECTIONS)
    if unknown:
        raise ConfigError(
            f"{source}: unknown sections {', '.join(unknown)} (known: {', '.join(SECTIONS)})"
        )
    sections: Sections = {}
    for name, section in body.items():
        if section is None:
            continue
        if not isinstance(section, Mapping):
            raise ConfigError(f"{source}: {name} must be a mapping")
        sections[name] = {str(key): value for key, value in section.items()}
    return sections


def merge_sections(base: Sections, override: Sections) -> Sections:
    """Later wins key by key inside each section; ``None`` deletes the key."""
    merged = {name: dict(section) for name, section in base.items()}
    for name, section in override.items():
        target = merged.setdefault(name, {})
        for key, value in section.items():
            if value is None:
                target.pop(key, None)
            else:
                target[key] = value
    return merged


def _dataset_settings(section: Mapping[str, Any]) -> DatasetSettings:
    values: dict[str, Any] = {}
    for key, value in section.items():
        expected = _DATASET_TYPES.get(key)
        if expected is None:
            raise ConfigError(
                f"DatasetConfig: unknown key {key} (known: {', '.join(_DATASET_TYPES)})"
            )
        if isinstance(value, bool) is not (expected is bool) or not isinstance(value, expected):
            raise ConfigError(f"DatasetConfig: {key} has the wrong type: {value!r}")
        values[key] = value
    settings = DatasetSettings(**values)
    if not 0 < settings.train_test_split <= 1:
        raise ConfigError(
            f"DatasetConfig: train_test_split must be in (0, 1], got {settings.train_test_split}"
        )
    if settings.max_seq_length < 8:
        raise ConfigError(
            f"DatasetConfig: max_seq_length must be >= 8, got {settings.max_seq_length}"
        )
    return settings


def _pad_to_multiple_of(section: Mapping[str, Any]) -> int | None:
    unknown = sorted(set(section) - _COLLATOR_KEYS)
    if unknown:
        known = ", ".join(sorted(_COLLATOR_KEYS))
        raise ConfigError(f"DataCollator: unknown keys {', '.join(unknown)} (known: {known})")
    value = section.get("pad_to_multiple_of")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(
            f"DataCollator: pad_to_multiple_of must be a positive integer, got {value!r}"
        )
    return value


def _check_lora(section: Mapping[str, Any]) -> None:
    rank = section.get("r")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
        raise ConfigError(f"LoraConfig: r must be a positive integer, got {rank!r}")
    modules = section.get("target_modules")
    if modules is not None and not (
        isinstance(modules, str)
        or (isinstance(modules, list) and all(isinstance(m, str) for m in modules))
    ):
        raise ConfigError("LoraConfig: target_modules must be a string or a list of strings")


def parse_training_config(sections: Sections) -> TrainingConfig:
    """Validate merged sections into a ``TrainingConfig``."""
    _check_lora(sections.get("LoraConfig", {}))
    arguments = sections.get("TrainingArguments", {})
    return TrainingConfig(
        model=sections.get("ModelConfig", {}),
        quantization=sections.get("QuantizationConfig", {}),
        lora=sections.get("LoraConfig", {}),
        training_arguments=arguments,
        pad_to_multiple_of=_pad_to_multiple_of(sections.get("DataCollator", {})),
        dataset=_dataset_settings(sections.get("DatasetConfig", {})),
    )


def load_training_config(paths: Sequence[Path]) -> TrainingConfig:
    """Read the ``--config`` files in order, merge them and validate the result."""
    merged: Sections = {}
    for path in paths:
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot read training config {path}: {e.strerror or e}") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {' '.join(str(e).split())}") from e
        merged = merge_sections(merged, _sections_of(document, str(path)))
    return parse_training_config(merged)
