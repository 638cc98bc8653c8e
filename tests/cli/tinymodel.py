"""A tiny model's Hub files, written by the tests (headers plus zeroed tensor bytes).

The layouts are the Hub's: ``config.json``, a model card with front matter, and either one
``model.safetensors`` or shards with ``model.safetensors.index.json``. A safetensors file is
written per the format (an 8-byte little-endian header length, the JSON header, the data):
the ``safetensors`` package is not in the controller's environment.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

REV = "89abcdef0123456789abcdef0123456789abcdef"
CONFIG = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "num_hidden_layers": 2,
    "vocab_size": 512,
    "max_position_embeddings": 4096,
    "torch_dtype": "bfloat16",
}


def write_safetensors(path: Path, tensors: dict[str, list[int]]) -> int:
    """A bf16 safetensors file with zeroed data; returns its tensor bytes."""
    header: dict[str, Any] = {}
    offset = 0
    for name, shape in tensors.items():
        size = 2 * shape[0] * (shape[1] if len(shape) > 1 else 1)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return offset


def tensors(layers: range) -> dict[str, list[int]]:
    names: dict[str, list[int]] = {}
    for i in layers:
        names[f"model.layers.{i}.self_attn.q_proj.weight"] = [64, 64]
        names[f"model.layers.{i}.self_attn.v_proj.weight"] = [32, 64]
    return names


def snapshot(directory: Path, *, sharded: bool = False, shards_present: bool = True) -> int:
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(CONFIG))
    (directory / "README.md").write_text("---\nlicense: apache-2.0\n---\n# Tiny\n")
    if not sharded:
        return write_safetensors(directory / "model.safetensors", tensors(range(2)))
    total = 0
    weight_map: dict[str, str] = {}
    for i in range(2):
        shard = f"model-0000{i + 1}-of-00002.safetensors"
        part = tensors(range(i, i + 1))
        total += write_safetensors(directory / shard, part)
        weight_map.update(dict.fromkeys(part, shard))
        if not shards_present:
            (directory / shard).unlink()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    return total
