"""The launcher's input: ``inference.yaml`` (docs/contracts.md section 3) and KAITO's
``inference_config.yaml``, parsed and validated into plain values.

Pure: nothing here looks at the filesystem beyond reading the file it is given, so every
rule is testable with a dict. Errors are ``ConfigError`` with one line naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from modelsync_runtime.errors import ConfigError

__all__ = [
    "API_VERSION",
    "DTYPES",
    "KIND",
    "InferenceConfig",
    "kaito_vllm_flags",
    "load_inference_config",
    "load_kaito_vllm_flags",
    "parse_inference_config",
]

API_VERSION = "modelsync.dev/v1alpha1"
KIND = "InferenceConfig"
DTYPES = ("auto", "bfloat16", "float16", "float32")


@dataclass(frozen=True)
class InferenceConfig:
    """What the launcher needs to start vLLM; defaults match the chart's."""

    model: str
    revision: str = ""
    served_model_name: str = ""
    host: str = "0.0.0.0"  # noqa: S104 - a pod serves on all of its interfaces
    port: int = 5000
    tensor_parallel_size: int = 1
    max_model_len: int = 0
    gpu_memory_utilization: float = 0.9
    dtype: str = "auto"
    max_num_seqs: int = 0
    chat_template: str = ""
    adapters_dir: str = "/mnt/adapters"
    extra_args: tuple[str, ...] = ()
    override_config: str = ""
    shutdown_timeout: int = 25

    @property
    def model_is_local(self) -> bool:
        """A model given as an absolute path is read from disk, never from the hub."""
        return self.model.startswith("/")


def _text(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {type(value).__name__}")
    return value


def _integer(minimum: int, maximum: int | None = None) -> Callable[[str, Any], int]:
    def check(key: str, value: Any) -> int:
        # YAML reads `true` as a bool, which Python would accept as the integer 1.
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
            raise ConfigError(f"{key} must be {bounds}, got {value}")
        return value

    return check


def _fraction(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if not 0 < value <= 1:
        raise ConfigError(f"{key} must be in (0, 1], got {value}")
    return float(value)


def _dtype(key: str, value: Any) -> str:
    if value not in DTYPES:
        raise ConfigError(f"{key} must be one of {', '.join(DTYPES)}, got {value!r}")
    return str(value)


def _flags(key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigError(f"{key} must be a list of strings, got {value!r}")
    return tuple(value)


# YAML key -> (InferenceConfig field, validator). Keys not listed here are rejected, so a
# typo in a chart template fails the pod at once instead of being silently ignored.
_FIELDS: dict[str, tuple[str, Callable[[str, Any], Any]]] = {
    "model": ("model", _text),
    "revision": ("revision", _text),
    "servedModelName": ("served_model_name", _text),
    "host": ("host", _text),
    "port": ("port", _integer(1, 65535)),
    "tensorParallelSize": ("tensor_parallel_size", _integer(1)),
    "maxModelLen": ("max_model_len", _integer(0)),
    "gpuMemoryUtilization": ("gpu_memory_utilization", _fraction),
    "dtype": ("dtype", _dtype),
    "maxNumSeqs": ("max_num_seqs", _integer(0)),
    "chatTemplate": ("chat_template", _text),
    "adaptersDir": ("adapters_dir", _text),
    "extraArgs": ("extra_args", _flags),
    "overrideConfig": ("override_config", _text),
    "shutdownTimeout": ("shutdown_timeout", _integer(0)),
}


def parse_inference_config(data: Any) -> InferenceConfig:
    """Validate a decoded ``inference.yaml`` document."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"the document must be a mapping, got {type(data).__name__}")
    if data.get("apiVersion") != API_VERSION or data.get("kind") != KIND:
        raise ConfigError(
            f"expected apiVersion: {API_VERSION} and kind: {KIND}, "
            f"got {data.get('apiVersion')!r} and {data.get('kind')!r}"
        )
    unknown = sorted(
        str(key) for key in data if key not in _FIELDS and key not in {"apiVersion", "kind"}
    )
    if unknown:
        raise ConfigError(f"unknown keys: {', '.join(unknown)} (known: {', '.join(_FIELDS)})")
    values: dict[str, Any] = {}
    for key, (field, check) in _FIELDS.items():
        # null means "not set" so a chart can template an optional value as empty.
        if data.get(key) is not None:
            values[field] = check(key, data[key])
    model = values.get("model", "").strip()
    if not model:
        raise ConfigError("model is required (a Hugging Face id or an absolute local path)")
    values["model"] = model
    return InferenceConfig(**values)


def _read_yaml(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read {what} {path}: {e.strerror or e}") from e
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {' '.join(str(e).split())}") from e


def load_inference_config(path: Path) -> InferenceConfig:
    """Read and validate the launcher config; every message names the file."""
    try:
        return parse_inference_config(_read_yaml(path, "launcher config"))
    except ConfigError as e:
        message = str(e)
        raise ConfigError(message if str(path) in message else f"{path}: {message}") from e


def kaito_vllm_flags(data: Any) -> tuple[str, ...]:
    """Turn the ``vllm:`` section of KAITO's inference_config.yaml into vLLM flags.

    Mirrors vLLM's own ``--config`` conversion: ``key: value`` becomes ``--key=value``,
    lists repeat their items after ``--key`` and mappings are passed as JSON. ``true``
    becomes ``--key``; ``false`` is dropped (vLLM's own default stays) because only some
    vLLM booleans accept ``--no-key`` and the launcher does not import vLLM to find out.
    Other top-level keys of the file (KAITO's ``max_probe_steps`` ...) are not for vLLM.
    """
    if data is None:
        return ()
    if not isinstance(data, Mapping):
        raise ConfigError("the KAITO inference config must be a mapping")
    section = data.get("vllm") or {}
    if not isinstance(section, Mapping):
        raise ConfigError("the vllm: section of the KAITO inference config must be a mapping")
    flags: list[str] = []
    for raw_key, value in section.items():
        flag = "--" + str(raw_key).strip().lstrip("-").replace("_", "-")
        if value is None or value is False:
            continue
        if value is True:
            flags.append(flag)
        elif isinstance(value, list):
            flags.extend([flag, *(str(item) for item in value)] if value else [])
        elif isinstance(value, Mapping):
            flags.append(f"{flag}={json.dumps(value, separators=(',', ':'))}")
        else:
            flags.append(f"{flag}={value}")
    return tuple(flags)


def load_kaito_vllm_flags(path: Path) -> tuple[str, ...]:
    """Read a KAITO inference_config.yaml (the Workspace's ``inference.config`` ConfigMap)."""
    try:
        return kaito_vllm_flags(_read_yaml(path, "override config"))
    except ConfigError as e:
        message = str(e)
        raise ConfigError(message if str(path) in message else f"{path}: {message}") from e
