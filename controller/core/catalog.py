"""The preset catalog: models, GPUs and cloud instance types, as typed values.

Built from the documents under ``presets/`` after they passed their schemas; the figures
themselves (and their sources) live in those files. Lookups accept KAITO's names and the
aliases the files list, and suggest the closest name when nothing matches.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GIB = 1024**3


@dataclass(frozen=True, slots=True)
class Architecture:
    type: str
    layers: int
    hidden_size: int
    attention_heads: int
    kv_heads: int
    head_dim: int
    vocab_size: int
    intermediate_size: int | None = None
    sliding_window: int | None = None
    experts_total: int | None = None
    experts_active: int | None = None
    #: Multi-head latent attention caches one compressed latent per token and layer instead of
    #: per-head keys and values; both are None for ordinary attention.
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None


@dataclass(frozen=True, slots=True)
class Preset:
    name: str
    family: str
    huggingface_id: str
    revision: str
    parameters: int
    weight_bytes: int
    dtype: str
    license: str
    gated: bool
    context_length: int
    architecture: Architecture
    vllm_supported: bool
    vllm_extra_args: tuple[str, ...]
    tuning_methods: frozenset[str]
    target_modules: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    active_parameters: int | None = None


@dataclass(frozen=True, slots=True)
class GPU:
    name: str
    memory_gib: float
    architecture: str
    compute_capability: str
    bf16: bool
    fp8: bool
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class InstanceType:
    name: str
    cloud: str
    gpu: str
    gpu_count: int
    vcpus: int | None = None
    memory_gib: float | None = None


@dataclass(frozen=True)
class Catalog:
    presets: Mapping[str, Preset]
    gpus: Mapping[str, GPU]
    instance_types: Mapping[str, InstanceType]
    _preset_index: dict[str, str] = field(init=False, repr=False)
    _gpu_index: dict[str, str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_preset_index", _index(self.presets.values()))
        object.__setattr__(self, "_gpu_index", _index(self.gpus.values()))

    def preset(self, name: str) -> Preset | None:
        key = self._preset_index.get(_norm(name))
        return self.presets[key] if key else None

    def gpu(self, name: str) -> GPU | None:
        key = self._gpu_index.get(_norm(name))
        return self.gpus[key] if key else None

    def instance_type(self, name: str) -> InstanceType | None:
        return self.instance_types.get(name)

    def closest_preset(self, name: str) -> str | None:
        close = difflib.get_close_matches(name, sorted(self.presets), n=1, cutoff=0.5)
        return close[0] if close else None

    def closest_gpu(self, name: str) -> str | None:
        close = difflib.get_close_matches(name, sorted(self.gpus), n=1, cutoff=0.4)
        return close[0] if close else None


def _norm(name: str) -> str:
    return name.strip().lower()


def _index(items: Iterable[Preset | GPU]) -> dict[str, str]:
    index: dict[str, str] = {}
    for item in items:
        # A Workspace may name a model by its Hugging Face id (KAITO accepts any ``org/model``).
        hub_id = (item.huggingface_id,) if isinstance(item, Preset) else ()
        for alias in (item.name, *item.aliases, *hub_id):
            index[_norm(alias)] = item.name
    return index


def preset_from_document(body: Mapping[str, Any]) -> Preset:
    """A Preset from a document that passed ``schemas/preset.schema.json``."""
    meta, model, arch = body["metadata"], body["model"], body["architecture"]
    experts = arch.get("experts") or {}
    vllm = body["runtimes"].get("vllm", {})
    tuning = body["tuning"]
    return Preset(
        name=meta["name"],
        family=meta["family"],
        aliases=tuple(meta.get("aliases", ())),
        huggingface_id=model["huggingFaceId"],
        revision=model["revision"],
        parameters=model["parameters"],
        active_parameters=model.get("activeParameters"),
        weight_bytes=model["weightBytes"],
        dtype=model["dtype"],
        license=model["license"],
        gated=bool(model.get("gated", False)),
        context_length=model["contextLength"],
        architecture=Architecture(
            type=arch["type"],
            layers=arch["layers"],
            hidden_size=arch["hiddenSize"],
            intermediate_size=arch.get("intermediateSize"),
            attention_heads=arch["attentionHeads"],
            kv_heads=arch["kvHeads"],
            head_dim=arch["headDim"],
            vocab_size=arch["vocabSize"],
            sliding_window=arch.get("slidingWindow"),
            experts_total=experts.get("total"),
            experts_active=experts.get("active"),
            kv_lora_rank=arch.get("kvLoraRank"),
            qk_rope_head_dim=arch.get("qkRopeHeadDim"),
        ),
        vllm_supported=bool(vllm.get("supported", True)),
        vllm_extra_args=tuple(vllm.get("extraArgs", ())),
        tuning_methods=frozenset(tuning.get("methods", ())),
        target_modules=tuple(tuning.get("targetModules", ())),
    )


def gpus_from_document(body: Mapping[str, Any]) -> list[GPU]:
    return [
        GPU(
            name=item["name"],
            aliases=tuple(item.get("aliases", ())),
            memory_gib=float(item["memoryGiB"]),
            architecture=item["architecture"],
            compute_capability=item["computeCapability"],
            bf16=bool(item.get("bf16", True)),
            fp8=bool(item.get("fp8", False)),
        )
        for item in body.get("gpus", ())
    ]


def instance_types_from_document(body: Mapping[str, Any]) -> list[InstanceType]:
    return [
        InstanceType(
            name=item["name"],
            cloud=item["cloud"],
            gpu=item["gpu"],
            gpu_count=item["gpuCount"],
            vcpus=item.get("vcpus"),
            memory_gib=item.get("memoryGiB"),
        )
        for item in body.get("instanceTypes", ())
    ]
