"""LoRA adapters the launcher serves: found on disk, ranked from their own configs.

The chart puts each Workspace adapter in ``<adaptersDir>/<name>/`` (an init container copies
an adapter image's ``/data`` there, or a volume is mounted there). Every subdirectory holding
``adapter_config.json`` is served under its directory name; vLLM needs ``--max-lora-rank`` at
least as large as the largest rank among them, and only accepts a fixed set of values.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelsync_runtime.errors import ConfigError

__all__ = ["VLLM_LORA_RANKS", "Adapter", "discover_adapters", "max_lora_rank", "read_adapter"]

ADAPTER_CONFIG = "adapter_config.json"

# vLLM's allowed --max-lora-rank values (vllm/config/lora.py, MaxLoRARanks, vLLM 0.32.0);
# tests/runtime checks this tuple against the installed vLLM.
VLLM_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)


@dataclass(frozen=True)
class Adapter:
    """One LoRA adapter directory and the largest rank any of its modules uses."""

    name: str
    path: Path
    rank: int


def _rank_of(config: Mapping[str, Any], source: Path) -> int:
    # PEFT stores the default rank in `r` and per-module exceptions in `rank_pattern`.
    pattern = config.get("rank_pattern") or {}
    ranks: list[int] = []
    for rank in [config.get("r"), *(pattern.values() if isinstance(pattern, Mapping) else ())]:
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
            raise ConfigError(f"{source}: r and rank_pattern values must be positive integers")
        ranks.append(rank)
    return max(ranks)


def read_adapter(directory: Path) -> Adapter:
    """Read one adapter directory; its name is the directory's name."""
    source = directory / ADAPTER_CONFIG
    try:
        config = json.loads(source.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read {source}: {e.strerror or e}") from e
    except json.JSONDecodeError as e:
        raise ConfigError(f"{source} is not valid JSON: {e.msg} at line {e.lineno}") from e
    if not isinstance(config, Mapping):
        raise ConfigError(f"{source} must hold a JSON object")
    if str(config.get("peft_type", "LORA")).upper() != "LORA":
        raise ConfigError(f"{source}: vLLM serves LoRA adapters only, got {config['peft_type']}")
    return Adapter(name=directory.name, path=directory, rank=_rank_of(config, source))


def discover_adapters(adapters_dir: Path) -> tuple[Adapter, ...]:
    """Every adapter under ``adapters_dir``, sorted by name; none when the folder is absent.

    A Workspace without adapters gets no adapters volume, so a missing folder is normal.
    Subdirectories without ``adapter_config.json`` (lost+found on a fresh volume) are skipped.
    """
    if not adapters_dir.is_dir():
        return ()
    found = [
        read_adapter(child)
        for child in sorted(adapters_dir.iterdir())
        if child.is_dir() and (child / ADAPTER_CONFIG).is_file()
    ]
    return tuple(found)


def max_lora_rank(ranks: Iterable[int]) -> int:
    """The smallest rank vLLM accepts that is at least every adapter's rank."""
    needed = max(ranks, default=1)
    for allowed in VLLM_LORA_RANKS:
        if allowed >= needed:
            return allowed
    raise ConfigError(
        f"LoRA rank {needed} is larger than the largest rank vLLM serves ({VLLM_LORA_RANKS[-1]})"
    )
