"""A preset document from a Hugging Face snapshot's figures (``modelsync presets add``).

Pure: the adapter reads ``config.json``, the safetensors index or headers and the model
card's front matter; this module turns them into a ``presets/<name>.yaml`` body that passes
``schemas/preset.schema.json`` and a comment header saying where every figure came from.
A figure the snapshot does not give is never guessed: either it is derived by a stated rule
(and the header says DERIVED) or the command stops and says what is missing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Bytes per element of each safetensors dtype tag.
SAFETENSORS_DTYPE_BYTES = {
    "F64": 8,
    "I64": 8,
    "U64": 8,
    "F32": 4,
    "I32": 4,
    "U32": 4,
    "F16": 2,
    "BF16": 2,
    "I16": 2,
    "U16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
}
#: Bytes per parameter of the stored dtypes a parameter count may be derived from.
_DENSE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "fp8": 1}
_TORCH_DTYPES = {"bfloat16": "bfloat16", "float16": "float16", "float32": "float32"}
#: Projection names LoRA targets by default, in the order they are listed.
_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "query_key_value")


class SnapshotError(Exception):
    """The snapshot lacks a figure a preset needs; the message says which and where."""


@dataclass(frozen=True)
class WeightFacts:
    """What the weight files say: stored bytes, and parameters when the headers were read."""

    source_file: str
    weight_bytes: int
    parameters: int | None = None
    dtype_counts: Mapping[str, int] = field(default_factory=dict)
    tensor_names: Sequence[str] = ()


@dataclass(frozen=True)
class PresetDraft:
    name: str
    body: dict[str, Any]
    header: tuple[str, ...]

    def text(self, dump: Any) -> str:
        """The file: the comment header, then ``dump(body)`` (a YAML dumper)."""
        return "".join(f"# {line}\n" for line in self.header) + str(dump(self.body))


def tensor_totals(header: Mapping[str, Any]) -> tuple[int, int, dict[str, int]]:
    """Parameters, bytes and per-dtype element counts of one safetensors header."""
    parameters = size = 0
    counts: dict[str, int] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape = info["dtype"], info["shape"]
        elements = math.prod(shape)
        parameters += elements
        counts[dtype] = counts.get(dtype, 0) + elements
        start, end = info["data_offsets"]
        size += end - start
    return parameters, size, counts


def preset_name(hf_id: str) -> str:
    """``Qwen/Qwen2.5-7B-Instruct`` -> ``qwen2.5-7b-instruct`` (the schema's name pattern)."""
    name = re.sub(r"[^a-z0-9.-]+", "-", hf_id.rsplit("/", maxsplit=1)[-1].lower()).strip("-.")
    return name[:63].rstrip("-.") or "model"


def draft_preset(
    hf_id: str,
    revision: str,
    config: Mapping[str, Any],
    weights: WeightFacts,
    card: Mapping[str, Any],
    *,
    origin: str,
    gated: bool = False,
    gated_by: str = "as given to the command (--gated)",
) -> PresetDraft:
    """The preset for ``hf_id`` at ``revision``; raises ``SnapshotError`` on a missing figure."""
    text = _text_config(config)
    dtype = _dtype(config)
    header = [
        f"{hf_id} at {revision}, written by `modelsync presets add` from {origin}.",
        "Architecture: config.json"
        + (" (text_config for a multimodal model)" if text is not config else "")
        + ".",
    ]
    architecture, context = _architecture(config, text)
    parameters = weights.parameters
    if parameters is not None:
        header.append(
            f"parameters: the safetensors headers' element count = {parameters:,}"
            + (f" ({_split(weights.dtype_counts)})" if weights.dtype_counts else "")
            + "."
        )
    elif dtype in _DENSE_BYTES:
        parameters = weights.weight_bytes // _DENSE_BYTES[dtype]
        header.append(
            f"parameters: DERIVED = weightBytes / {_DENSE_BYTES[dtype]} bytes ({dtype}) ="
            f" {parameters:,}; the shard headers were not in the snapshot."
        )
    else:
        raise SnapshotError(
            f"{dtype} weights need the shard headers to count parameters: put the "
            f"model-*.safetensors files listed in {weights.source_file} in the snapshot"
        )
    header.append(f"weightBytes: {weights.source_file} = {weights.weight_bytes}.")
    license_name = _license(card)
    if license_name == "unknown":
        header.append("license: NOT FOUND in the model card's front matter; fill it in.")
    # Gating is a Hub setting, not a file in the snapshot (a card's extra_gated_* fields only
    # word the form), so it is what the caller says, or what the Hub's model API said.
    header.append(f"gated: {str(gated).lower()}, {gated_by}.")
    model: dict[str, Any] = {
        "huggingFaceId": hf_id,
        "revision": revision,
        "parameters": parameters,
        "weightBytes": weights.weight_bytes,
        "dtype": dtype,
        "license": license_name,
        "gated": gated,
        "contextLength": context,
    }
    targets = [t for t in _TARGETS if any(n.endswith(f".{t}.weight") for n in weights.tensor_names)]
    name = preset_name(hf_id)
    body: dict[str, Any] = {
        "apiVersion": "modelsync.dev/v1alpha1",
        "kind": "Preset",
        "metadata": {
            "name": name,
            "family": str(text.get("model_type") or config.get("model_type") or name),
            "aliases": [hf_id],
        },
        "model": model,
        "architecture": architecture,
        "runtimes": {"vllm": {"supported": True, "extraArgs": []}},
        "tuning": {"methods": [], **({"targetModules": targets} if targets else {})},
        "sources": [
            f"https://huggingface.co/{hf_id}/blob/{revision}/config.json",
            f"https://huggingface.co/{hf_id}/blob/{revision}/{weights.source_file}",
            f"https://huggingface.co/{hf_id}",
        ],
        "notes": (
            "Written from the snapshot's files; review the figures in the pull request. Tuning "
            "is off until someone checks the model trains with the PEFT runtime. "
            + ("Gated on the Hub: Workspaces need an HF token secret." if gated else "")
        ).rstrip(),
    }
    return PresetDraft(name, body, tuple(header))


def _text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in ("text_config", "llm_config"):
        nested = config.get(key)
        if isinstance(nested, Mapping) and "num_hidden_layers" in nested:
            return nested
    return config


def _first(config: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _required(config: Mapping[str, Any], what: str, *keys: str) -> int:
    value = _first(config, *keys)
    if value is None:
        raise SnapshotError(f"config.json has no {what} (looked for {', '.join(keys)})")
    return value


def _architecture(config: Mapping[str, Any], text: Mapping[str, Any]) -> tuple[dict[str, Any], int]:
    types = config.get("architectures") or text.get("architectures")
    if not isinstance(types, list) or not types:
        raise SnapshotError("config.json has no architectures list")
    hidden = _required(text, "hidden size", "hidden_size", "n_embd", "d_model")
    heads = _required(text, "attention head count", "num_attention_heads", "n_head")
    kv_heads = _first(text, "num_key_value_heads", "num_kv_heads") or (
        1 if text.get("multi_query") is True else heads
    )
    context = _required(
        text, "context length", "max_position_embeddings", "n_positions", "max_sequence_length"
    )
    arch: dict[str, Any] = {
        "type": str(types[0]),
        "layers": _required(text, "layer count", "num_hidden_layers", "n_layer", "num_layers"),
        "hiddenSize": hidden,
        "attentionHeads": heads,
        "kvHeads": kv_heads,
        "headDim": _first(text, "head_dim") or hidden // heads,
        "vocabSize": _required(text, "vocabulary size", "vocab_size"),
    }
    intermediate = _first(text, "intermediate_size", "ffn_hidden_size")
    if intermediate:
        arch["intermediateSize"] = intermediate
    window = _first(text, "sliding_window")
    if window and window < context and text.get("use_sliding_window") is not False:
        arch["slidingWindow"] = window
    rank = _first(text, "kv_lora_rank")
    if rank:
        arch["kvLoraRank"] = rank
        arch["qkRopeHeadDim"] = _required(text, "qk_rope_head_dim", "qk_rope_head_dim")
    total = _first(text, "num_local_experts", "n_routed_experts", "num_experts")
    active = _first(text, "num_experts_per_tok", "num_experts_per_token", "moe_topk")
    if total and total >= 2 and active:
        arch["experts"] = {"total": total, "active": active}
    return arch, context


def _dtype(config: Mapping[str, Any]) -> str:
    quant = config.get("quantization_config")
    if isinstance(quant, Mapping):
        method = str(quant.get("quant_method", ""))
        if method in ("fp8", "mxfp4"):
            return method
        raise SnapshotError(
            f"quantization {method or 'unknown'!r} is not a dtype presets describe "
            "(bfloat16, float16, float32, fp8, mxfp4)"
        )
    stored = (
        config.get("torch_dtype") or config.get("dtype") or _text_config(config).get("torch_dtype")
    )
    if stored not in _TORCH_DTYPES:
        raise SnapshotError(f"config.json's torch_dtype {stored!r} is not bfloat16/float16/float32")
    return _TORCH_DTYPES[str(stored)]


def _license(card: Mapping[str, Any]) -> str:
    license_name = card.get("license")
    if license_name == "other" and card.get("license_name"):
        license_name = card["license_name"]
    return str(license_name) if license_name else "unknown"


def _split(counts: Mapping[str, int]) -> str:
    return " + ".join(f"{dtype} {count:,}" for dtype, count in sorted(counts.items()))
