"""The shipped catalog data (presets/): every file passes its schema and its figures agree.

Reads the YAML directly with PyYAML and jsonschema, independent of the catalog loader, so a
bad figure in the data is reported against the data file rather than through the loader.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parents[2]
PRESETS = ROOT / "presets"
MODEL_FILES = sorted((PRESETS / "models").glob("*.yaml"))

REQUIRED_PRESETS = {
    "phi-3.5-mini-instruct",
    "phi-4",
    "phi-4-mini-instruct",
    "llama-3.1-8b-instruct",
    "llama-3.3-70b-instruct",
    "mistral-7b-instruct",
    "qwen2.5-coder-7b-instruct",
    "qwen2.5-coder-32b-instruct",
    "deepseek-r1-distill-llama-8b",
    "deepseek-r1-distill-qwen-14b",
    "gemma-3-4b-instruct",
    "gemma-3-27b-instruct",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "falcon-7b-instruct",
    "deepseek-r1-0528",
    "deepseek-v3-0324",
    "mistral-7b",
    "ministral-3-3b-instruct",
    "ministral-3-8b-instruct",
    "ministral-3-14b-instruct",
    "mistral-large-3-675b-instruct",
    "phi-3-mini-4k-instruct",
    "phi-3-mini-128k-instruct",
    "phi-3-medium-4k-instruct",
    "phi-3-medium-128k-instruct",
}

# Bytes a weight takes on disk for each stored dtype.
DTYPE_BYTES = {"bfloat16": 2.0, "float16": 2.0, "float32": 4.0}
# bf16/fp16 checkpoints may differ from parameters x 2 by duplicated tensors (Falcon stores its
# tied lm_head twice, +4%) or headers, never by more than this.
DENSE_TOLERANCE = 0.15
# MXFP4 stores MoE weights as 4-bit values plus one 8-bit scale per 32 (4.25 bits = 0.53125
# bytes) and keeps attention, router and embeddings in bf16. A checkpoint therefore lands between
# all-MXFP4 and half bf16; gpt-oss sits at 0.56 (120b) and 0.66 (20b) bytes per parameter.
MXFP4_BYTES_PER_PARAMETER = (0.53125, 1.0)
# FP8 checkpoints store the linear weights as one byte but keep embeddings, norms, vision towers
# and their float32 block scales wider: DeepSeek V3 sits at 1.006 bytes per parameter, the small
# Ministral 3 models (bf16 embeddings and vision encoder) at 1.13-1.22.
FP8_BYTES_PER_PARAMETER = (1.0, 1.5)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def validator(schema_file: str) -> Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / schema_file).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(body: Any, schema_file: str) -> list[str]:
    errors = validator(schema_file).iter_errors(body)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def presets() -> list[dict[str, Any]]:
    return [load(path) for path in MODEL_FILES]


def gpus() -> list[dict[str, Any]]:
    body: dict[str, Any] = load(PRESETS / "gpus.yaml")
    return list(body["gpus"])


def instance_types() -> list[dict[str, Any]]:
    body: dict[str, Any] = load(PRESETS / "instance-types.yaml")
    return list(body["instanceTypes"])


def duplicates(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(n.lower() for n in names).items() if count > 1)


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_every_preset_file_passes_the_preset_schema(path: Path) -> None:
    assert schema_errors(load(path), "preset.schema.json") == []


@pytest.mark.parametrize("name", ["gpus.yaml", "instance-types.yaml"])
def test_the_gpu_and_instance_type_tables_pass_their_schema(name: str) -> None:
    assert schema_errors(load(PRESETS / name), "gpu-catalog.schema.json") == []


def test_the_tables_declare_their_kinds() -> None:
    assert load(PRESETS / "gpus.yaml")["kind"] == "GPUCatalog"
    assert load(PRESETS / "instance-types.yaml")["kind"] == "InstanceTypeCatalog"


@pytest.mark.parametrize(
    "path", [*MODEL_FILES, PRESETS / "gpus.yaml", PRESETS / "instance-types.yaml"], ids=str
)
def test_every_data_file_opens_with_a_comment_header(path: Path) -> None:
    assert path.read_text(encoding="utf-8").startswith("# ")


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_a_preset_file_is_named_after_its_preset(path: Path) -> None:
    assert load(path)["metadata"]["name"] == path.stem


def test_the_presets_kaito_ships_are_all_present_with_a_mixture_of_experts_model() -> None:
    bodies = presets()
    assert sorted(REQUIRED_PRESETS - {body["metadata"]["name"] for body in bodies}) == []
    assert len(bodies) >= 16
    assert any(
        "experts" in body["architecture"] and body["model"]["dtype"] != "mxfp4" for body in bodies
    )


def test_preset_names_and_aliases_are_unique_ignoring_case() -> None:
    names = [body["metadata"]["name"] for body in presets()]
    aliases = [alias for body in presets() for alias in body["metadata"].get("aliases", [])]
    assert duplicates(names + aliases) == []


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_kv_heads_divide_attention_heads(path: Path) -> None:
    arch = load(path)["architecture"]
    assert arch["attentionHeads"] % arch["kvHeads"] == 0


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_weight_bytes_match_the_parameter_count_and_dtype(path: Path) -> None:
    model = load(path)["model"]
    per_parameter = model["weightBytes"] / model["parameters"]
    if model["dtype"] in ("mxfp4", "fp8"):
        low, high = (
            MXFP4_BYTES_PER_PARAMETER if model["dtype"] == "mxfp4" else FP8_BYTES_PER_PARAMETER
        )
        assert low <= per_parameter <= high
    else:
        expected = DTYPE_BYTES[model["dtype"]]
        assert abs(per_parameter - expected) / expected <= DENSE_TOLERANCE


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_mixture_of_experts_figures_are_consistent(path: Path) -> None:
    body = load(path)
    experts = body["architecture"].get("experts")
    active = body["model"].get("activeParameters")
    assert (experts is None) == (active is None)
    if experts is not None and active is not None:
        assert experts["active"] < experts["total"]
        assert active < body["model"]["parameters"]


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_a_sliding_window_is_shorter_than_the_context(path: Path) -> None:
    body = load(path)
    window = body["architecture"].get("slidingWindow")
    assert window is None or window < body["model"]["contextLength"]


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_tunable_presets_name_their_lora_target_modules(path: Path) -> None:
    tuning = load(path)["tuning"]
    assert not tuning["methods"] or tuning.get("targetModules")


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_sources_cite_the_pinned_revision(path: Path) -> None:
    body = load(path)
    model = body["model"]
    pinned = f"huggingface.co/{model['huggingFaceId']}/blob/{model['revision']}/"
    assert any(pinned in source for source in body["sources"])


def test_gpu_names_and_aliases_are_unique_ignoring_case() -> None:
    names = [gpu["name"] for gpu in gpus()]
    aliases = [alias for gpu in gpus() for alias in gpu.get("aliases", [])]
    assert duplicates(names + aliases) == []


def test_the_gpu_table_covers_the_gpus_the_sizing_compares() -> None:
    expected = {
        "T4",
        "A10",
        "A10G",
        "L4",
        "L40S",
        "A100-40GB",
        "A100-80GB",
        "H100-80GB",
        "H100-NVL-94GB",
        "H200-141GB",
        "V100-16GB",
        "V100-32GB",
    }
    assert sorted(expected - {gpu["name"] for gpu in gpus()}) == []


def test_the_instance_types_kaitos_examples_and_sku_tables_name_are_known() -> None:
    # KAITO's examples name the retired Azure NCv3 (V100) sizes; its SKU tables list the rest.
    expected = {
        "Standard_NC6s_v3",
        "Standard_NC12s_v3",
        "Standard_NC24s_v3",
        "Standard_NC24rs_v3",
        "Standard_NCC40ads_H100_v5",
        "gr6.4xlarge",
        "gr6.8xlarge",
        "g4dn.xlarge",
        "p3.2xlarge",
        "p3dn.24xlarge",
    }
    assert sorted(expected - {item["name"] for item in instance_types()}) == []


@pytest.mark.parametrize("gpu", gpus(), ids=lambda g: str(g["name"]))
def test_usable_gpu_memory_is_at_most_the_datasheet_capacity(gpu: dict[str, Any]) -> None:
    # NVIDIA's datasheet "GB" for GPU memory is binary-sized (a 40 GB A100 reports 40 GiB), and
    # ECC or firmware reservations take at most a few percent of it.
    assert 0.9 * gpu["memoryGB"] <= gpu["memoryGiB"] <= gpu["memoryGB"]


def test_instance_type_names_are_unique() -> None:
    assert duplicates([item["name"] for item in instance_types()]) == []


def test_every_instance_type_carries_a_gpu_from_the_gpu_table() -> None:
    known = {gpu["name"] for gpu in gpus()}
    assert sorted({item["gpu"] for item in instance_types()} - known) == []


def test_every_cloud_is_covered() -> None:
    assert {item["cloud"] for item in instance_types()} == {"azure", "aws", "gcp"}
