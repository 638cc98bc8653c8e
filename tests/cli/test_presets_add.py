"""`modelsync presets add` on snapshots the tests write, and `validate` using the result.

Nothing reaches the Hugging Face Hub: each test writes config.json and safetensors files
(headers plus zero bytes) in the layouts the Hub and its cache use.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.cli.main import main

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
WORKSPACE = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: tiny}
resource: {instanceType: Standard_NC24ads_A100_v4}
inference:
  preset: {name: acme/Tiny-Qwen}
"""


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


def add(*args: str) -> int:
    return main(["presets", "add", "acme/Tiny-Qwen", *args])


def test_a_single_file_snapshot_becomes_a_preset_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    size = snapshot(tmp_path / "snap" / REV)
    assert add("--from", str(tmp_path / "snap" / REV), "--out", str(tmp_path / "presets")) == 0
    written = tmp_path / "presets" / "tiny-qwen.yaml"
    body = yaml.safe_load(written.read_text())
    assert body["model"]["revision"] == REV
    assert body["model"]["weightBytes"] == size
    assert body["model"]["parameters"] == 2 * (64 * 64 + 32 * 64)
    assert body["model"]["license"] == "apache-2.0"
    assert body["tuning"]["targetModules"] == ["q_proj", "v_proj"]
    assert written.read_text().startswith("# acme/Tiny-Qwen at " + REV)
    assert "wrote" in capsys.readouterr().out
    # A second run does not overwrite the reviewed file without --force.
    assert add("--from", str(tmp_path / "snap" / REV), "--out", str(tmp_path / "presets")) == 2
    assert (
        add("--from", str(tmp_path / "snap" / REV), "--out", str(tmp_path / "presets"), "--force")
        == 0
    )


def test_the_hugging_face_cache_layout_is_found_through_hf_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "hf" / "hub" / "models--acme--Tiny-Qwen"
    size = snapshot(repo / "snapshots" / REV, sharded=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(REV)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    assert add("--out", str(tmp_path / "presets")) == 0
    body = yaml.safe_load((tmp_path / "presets" / "tiny-qwen.yaml").read_text())
    assert (body["model"]["revision"], body["model"]["weightBytes"]) == (REV, size)
    assert body["model"]["parameters"] == 2 * (64 * 64 + 32 * 64)
    assert body["sources"][1].endswith(f"/blob/{REV}/model.safetensors.index.json")


def test_an_index_without_its_shards_derives_parameters_and_says_so(tmp_path: Path) -> None:
    size = snapshot(tmp_path / REV, sharded=True, shards_present=False)
    assert add("--from", str(tmp_path / REV), "--out", str(tmp_path / "presets")) == 0
    text = (tmp_path / "presets" / "tiny-qwen.yaml").read_text()
    assert f"parameters: {size // 2}" in text
    assert "# parameters: DERIVED" in text


def test_what_cannot_be_read_is_said_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    assert add("--out", str(tmp_path / "presets")) == 1
    assert "hf download acme/Tiny-Qwen" in capsys.readouterr().err
    snapshot(tmp_path / "unpinned")
    assert add("--from", str(tmp_path / "unpinned"), "--out", str(tmp_path / "presets")) == 1
    assert "--revision" in capsys.readouterr().err
    assert main(["presets", "add", "microsoft/phi-4"]) == 2
    assert "bundled preset 'phi-4'" in capsys.readouterr().err
    assert not (tmp_path / "presets").exists()


def test_validate_sizes_a_workspace_with_the_repos_own_preset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = Path(__file__).resolve().parents[2]
    cluster = tmp_path / "clusters" / "prod"
    cluster.mkdir(parents=True)
    (cluster / "cluster.yaml").write_text((root / "clusters/prod/cluster.yaml").read_text())
    (cluster / "tiny.yaml").write_text(WORKSPACE)
    monkeypatch.chdir(tmp_path)
    assert main(["validate"]) == 1
    assert "run `modelsync presets add acme/Tiny-Qwen`" in capsys.readouterr().out
    snapshot(tmp_path / "snap" / REV)
    assert add("--from", str(tmp_path / "snap" / REV)) == 0
    capsys.readouterr()
    code = main(["validate", "clusters/prod/tiny.yaml"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "prod/default/tiny: tiny-qwen on pool" in out
    assert main(["presets", "show", "acme/Tiny-Qwen"]) == 0
    assert capsys.readouterr().out.startswith("tiny-qwen  (qwen2)")
