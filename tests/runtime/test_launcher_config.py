"""The launcher refuses a bad ``inference.yaml`` with exit code 2 and one line saying why."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from modelsync_runtime.config import InferenceConfig, parse_inference_config
from modelsync_runtime.errors import ConfigError

from tests.runtime.processes import run_program

HEADER = {"apiVersion": "modelsync.dev/v1alpha1", "kind": "InferenceConfig"}


def launch_config(**keys: Any) -> dict[str, Any]:
    return {**HEADER, "model": "microsoft/Phi-3.5-mini-instruct", **keys}


def test_defaults_match_the_contract() -> None:
    config = parse_inference_config(launch_config())
    assert config == InferenceConfig(model="microsoft/Phi-3.5-mini-instruct")
    assert (config.host, config.port, config.adapters_dir) == ("0.0.0.0", 5000, "/mnt/adapters")


def test_every_key_is_read() -> None:
    config = parse_inference_config(
        launch_config(
            revision="4b7e" * 10,
            servedModelName="phi",
            host="127.0.0.1",
            port=8000,
            tensorParallelSize=2,
            maxModelLen=4096,
            gpuMemoryUtilization=1,
            dtype="bfloat16",
            maxNumSeqs=16,
            chatTemplate="/etc/template.jinja",
            adaptersDir="/adapters",
            extraArgs=["--enforce-eager"],
            overrideConfig="/etc/kaito/inference_config.yaml",
            shutdownTimeout=10,
        )
    )
    assert config.tensor_parallel_size == 2
    assert config.gpu_memory_utilization == 1.0
    assert config.extra_args == ("--enforce-eager",)
    assert config.shutdown_timeout == 10


def test_null_values_mean_unset() -> None:
    assert parse_inference_config(launch_config(revision=None, maxModelLen=None)).max_model_len == 0


@pytest.mark.parametrize(
    ("keys", "reason"),
    [
        ({"model": ""}, "model is required"),
        ({"model": None}, "model is required"),
        ({"model": 7}, "model must be a string"),
        ({"tensorParallelSize": 0}, "tensorParallelSize must be >= 1, got 0"),
        ({"tensorParallelSize": "2"}, "tensorParallelSize must be an integer"),
        ({"port": True}, "port must be an integer"),
        ({"port": 70000}, "port must be in [1, 65535]"),
        ({"maxNumSeqs": -1}, "maxNumSeqs must be >= 0"),
        ({"gpuMemoryUtilization": 1.5}, "gpuMemoryUtilization must be in (0, 1]"),
        ({"dtype": "int8"}, "dtype must be one of auto, bfloat16, float16, float32"),
        ({"extraArgs": "--enforce-eager"}, "extraArgs must be a list of strings"),
        ({"tensorParallelSise": 2}, "unknown keys: tensorParallelSise"),
        ({"kind": "Workspace"}, "expected apiVersion: modelsync.dev/v1alpha1 and kind"),
    ],
)
def test_invalid_values_are_named(keys: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(reason)):
        parse_inference_config(launch_config(**keys))


def test_a_document_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_inference_config(["model", "x"])


def _launch(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / "inference.yaml"
    path.write_text(text, encoding="utf-8")
    result = run_program("modelsync-launch", ["--config", str(path), "--print-args"], timeout=60)
    assert result.stdout == ""
    return result.returncode, result.stderr


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("model: [unclosed\n", "is not valid YAML"),
        (yaml.safe_dump({**HEADER, "port": 80}), "model is required"),
        (yaml.safe_dump(launch_config(tensorParallelSize=0)), "tensorParallelSize must be >= 1"),
        (yaml.safe_dump(launch_config(maxModelLenght=4096)), "unknown keys: maxModelLenght"),
        (yaml.safe_dump(launch_config(model="/no/such/model")), "is not a directory"),
        (
            yaml.safe_dump(launch_config(overrideConfig="/no/such/inference_config.yaml")),
            "cannot read override config",
        ),
    ],
)
def test_the_program_exits_2_with_one_line(tmp_path: Path, text: str, reason: str) -> None:
    code, stderr = _launch(tmp_path, text)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("modelsync-launch: error: ")
    assert reason in lines[0]


def test_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run_program("modelsync-launch", ["--config", str(tmp_path / "absent.yaml")])
    assert result.returncode == 2
    assert "cannot read launcher config" in result.stderr


def test_an_adapter_with_a_broken_config_exits_2(tmp_path: Path) -> None:
    (tmp_path / "adapters" / "broken").mkdir(parents=True)
    (tmp_path / "adapters" / "broken" / "adapter_config.json").write_text("{not json")
    text = yaml.safe_dump(launch_config(adaptersDir=str(tmp_path / "adapters")))
    code, stderr = _launch(tmp_path, text)
    assert code == 2
    assert "adapter_config.json is not valid JSON" in stderr
