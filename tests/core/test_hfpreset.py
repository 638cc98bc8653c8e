"""Preset drafts from a snapshot's figures: what is read, what is derived, what stops."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from controller.adapters.bundled import Bundle
from controller.core.documents import Document, SourceFile, parse_document
from controller.core.hfpreset import (
    SnapshotError,
    WeightFacts,
    draft_preset,
    preset_name,
    tensor_totals,
)

REV = "0123456789abcdef0123456789abcdef01234567"
LLAMA: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "num_hidden_layers": 32,
    "vocab_size": 128256,
    "max_position_embeddings": 131072,
    "torch_dtype": "bfloat16",
}
HEADERS = WeightFacts(
    "model.safetensors.index.json",
    16060522496,
    8030261248,
    {"BF16": 8030261248},
    ("model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.up_proj.weight"),
)


def schema_errors(bundle: Bundle, body: dict[str, Any]) -> list[str]:
    parsed = parse_document(SourceFile("p.yaml", data=yaml.safe_dump(body).encode()))
    assert isinstance(parsed, Document)
    return [f.message for f in bundle.schemas.validate("Preset", parsed)]


def test_a_draft_carries_the_config_figures_and_passes_the_preset_schema(bundle: Bundle) -> None:
    draft = draft_preset(
        "acme/Llama-Like-8B", REV, LLAMA, HEADERS, {"license": "llama3.1"}, origin="a dir"
    )
    body = draft.body
    assert draft.name == "llama-like-8b"
    assert body["model"]["parameters"] == 8030261248
    assert body["model"]["license"] == "llama3.1"
    assert body["architecture"]["headDim"] == 128
    assert body["architecture"]["kvHeads"] == 8
    assert body["tuning"] == {"methods": [], "targetModules": ["q_proj"]}
    assert f"huggingface.co/acme/Llama-Like-8B/blob/{REV}/config.json" in body["sources"][0]
    assert schema_errors(bundle, body) == []
    assert "BF16 8,030,261,248" in draft.text(yaml.safe_dump).splitlines()[2]


def test_without_shard_headers_parameters_are_derived_from_the_index_bytes() -> None:
    index_only = WeightFacts("model.safetensors.index.json", 16060522496)
    draft = draft_preset("acme/m", REV, LLAMA, index_only, {}, origin="cache")
    assert draft.body["model"]["parameters"] == 16060522496 // 2
    assert any(line.startswith("parameters: DERIVED") for line in draft.header)
    assert draft.body["model"]["license"] == "unknown"
    assert any("license: NOT FOUND" in line for line in draft.header)


def test_fp8_weights_without_headers_stop_rather_than_guess() -> None:
    fp8 = {**LLAMA, "quantization_config": {"quant_method": "mxfp4"}}
    with pytest.raises(SnapshotError, match="shard headers"):
        draft_preset("acme/m", REV, fp8, WeightFacts("i.json", 10), {}, origin="x")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_hidden_layers": None}, "layer count"),
        ({"architectures": []}, "architectures"),
        ({"torch_dtype": "int8"}, "torch_dtype"),
        ({"quantization_config": {"quant_method": "awq"}}, "'awq'"),
    ],
)
def test_a_missing_or_unsupported_figure_is_named(change: dict[str, Any], message: str) -> None:
    config = {k: v for k, v in {**LLAMA, **change}.items() if v is not None}
    with pytest.raises(SnapshotError, match=message):
        draft_preset("acme/m", REV, config, HEADERS, {}, origin="x")


def test_latent_attention_experts_and_a_multimodal_text_config_are_read() -> None:
    text = {
        **{k: v for k, v in LLAMA.items() if k != "architectures"},
        "kv_lora_rank": 512,
        "qk_rope_head_dim": 64,
        "n_routed_experts": 256,
        "num_experts_per_tok": 8,
        "sliding_window": 4096,
    }
    config = {"architectures": ["SomeForConditionalGeneration"], "text_config": text}
    arch = draft_preset("acme/m", REV, config, HEADERS, {}, origin="x").body["architecture"]
    assert arch["type"] == "SomeForConditionalGeneration"
    assert (arch["kvLoraRank"], arch["qkRopeHeadDim"]) == (512, 64)
    assert arch["experts"] == {"total": 256, "active": 8}
    assert arch["slidingWindow"] == 4096


def test_a_sliding_window_is_kept_only_when_used_and_shorter_than_the_context() -> None:
    off = {**LLAMA, "sliding_window": 4096, "use_sliding_window": False}
    longer = {**LLAMA, "sliding_window": 262144}
    for config in (off, longer):
        arch = draft_preset("acme/m", REV, config, HEADERS, {}, origin="x").body["architecture"]
        assert "slidingWindow" not in arch


def test_gated_is_what_the_caller_says_since_no_snapshot_file_records_it() -> None:
    card = {"license": "other", "license_name": "acme-license", "extra_gated_prompt": "share"}
    draft = draft_preset("acme/m", REV, LLAMA, HEADERS, card, origin="x")
    assert draft.body["model"]["gated"] is False
    assert draft.body["model"]["license"] == "acme-license"
    gated = draft_preset("acme/m", REV, LLAMA, HEADERS, card, origin="x", gated=True)
    assert gated.body["model"]["gated"] is True


def test_tensor_totals_count_elements_and_stored_bytes_per_dtype() -> None:
    header = {
        "__metadata__": {"format": "pt"},
        "a": {"dtype": "BF16", "shape": [4, 8], "data_offsets": [0, 64]},
        "b": {"dtype": "F8_E4M3", "shape": [16], "data_offsets": [64, 80]},
    }
    assert tensor_totals(header) == (48, 80, {"BF16": 32, "F8_E4M3": 16})


@pytest.mark.parametrize(
    ("hf_id", "name"),
    [("Qwen/Qwen2.5-7B-Instruct", "qwen2.5-7b-instruct"), ("a/Foo_Bar--", "foo-bar")],
)
def test_preset_names_follow_the_schema_pattern(hf_id: str, name: str) -> None:
    assert preset_name(hf_id) == name
