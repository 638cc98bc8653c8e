"""From launcher config and adapter folders to the exact vLLM command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from modelsync_runtime.adapters import (
    VLLM_LORA_RANKS,
    Adapter,
    discover_adapters,
    max_lora_rank,
)
from modelsync_runtime.config import InferenceConfig, kaito_vllm_flags
from modelsync_runtime.errors import ConfigError
from modelsync_runtime.launcher import VLLM_MODULE, build_argv, build_env, prepare_launch

from tests.runtime.processes import run_program

PYTHON = "/usr/bin/python3"


def write_adapter(root: Path, name: str, rank: int, **extra: Any) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    config = {"peft_type": "LORA", "r": rank, "target_modules": ["q_proj"], **extra}
    (directory / "adapter_config.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


def test_a_hub_model_with_defaults() -> None:
    config = InferenceConfig(model="microsoft/Phi-3.5-mini-instruct", revision="abc123")
    assert build_argv(config, python=PYTHON) == (
        *(PYTHON, "-m", VLLM_MODULE),
        *("--model", "microsoft/Phi-3.5-mini-instruct", "--revision", "abc123"),
        *("--served-model-name", "microsoft/Phi-3.5-mini-instruct"),
        *("--host", "0.0.0.0", "--port", "5000", "--tensor-parallel-size", "1"),
        *("--gpu-memory-utilization", "0.9", "--dtype", "auto", "--shutdown-timeout", "25"),
    )
    assert build_env(config, {}) == {}


def test_every_set_key_becomes_a_flag() -> None:
    config = InferenceConfig(
        model="org/model",
        served_model_name="model",
        tensor_parallel_size=4,
        max_model_len=8192,
        gpu_memory_utilization=0.85,
        dtype="bfloat16",
        max_num_seqs=32,
        chat_template="/etc/modelsync/chat.jinja",
        shutdown_timeout=0,
    )
    argv = build_argv(config, python=PYTHON)
    pairs = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert pairs == {
        "--model": "org/model",
        "--served-model-name": "model",
        "--host": "0.0.0.0",
        "--port": "5000",
        "--tensor-parallel-size": "4",
        "--max-model-len": "8192",
        "--gpu-memory-utilization": "0.85",
        "--dtype": "bfloat16",
        "--max-num-seqs": "32",
        "--chat-template": "/etc/modelsync/chat.jinja",
    }


def test_a_local_model_runs_offline_without_a_revision(tmp_path: Path) -> None:
    config = InferenceConfig(model=str(tmp_path), revision="abc123")
    assert "--revision" not in build_argv(config)
    assert build_env(config, {}) == {"HF_HUB_OFFLINE": "1"}
    # An operator's explicit setting is left alone.
    assert build_env(config, {"HF_HUB_OFFLINE": "0"}) == {}


def test_adapters_are_discovered_and_served_under_one_flag(tmp_path: Path) -> None:
    root = tmp_path / "adapters"
    write_adapter(root, "support-bot", rank=8)
    write_adapter(root, "coder", rank=12)
    (root / "lost+found").mkdir()  # a fresh volume's folder without an adapter
    (root / "README").write_text("not an adapter")
    adapters = discover_adapters(root)
    assert [(a.name, a.rank) for a in adapters] == [("coder", 12), ("support-bot", 8)]
    argv = build_argv(InferenceConfig(model="org/model"), adapters)
    start = argv.index("--enable-lora")
    assert argv[start:] == (
        "--enable-lora",
        *("--lora-modules", f"coder={root / 'coder'}", f"support-bot={root / 'support-bot'}"),
        *("--max-lora-rank", "16", "--max-loras", "2"),
    )


def test_no_adapters_folder_means_no_lora_flags(tmp_path: Path) -> None:
    assert discover_adapters(tmp_path / "absent") == ()
    launch = prepare_launch(
        InferenceConfig(model="org/model", adapters_dir=str(tmp_path / "absent")), {}
    )
    assert "--enable-lora" not in launch.argv


def test_rank_pattern_counts_towards_the_rank(tmp_path: Path) -> None:
    write_adapter(tmp_path, "patterned", rank=8, rank_pattern={"layers.0.q_proj": 40})
    assert discover_adapters(tmp_path)[0].rank == 40


@pytest.mark.parametrize(
    ("ranks", "expected"),
    [([1], 1), ([2], 8), ([8], 8), ([9, 4], 16), ([64], 64), ([300], 320), ([512], 512)],
)
def test_max_lora_rank_is_the_smallest_vllm_value_that_fits(
    ranks: list[int], expected: int
) -> None:
    assert max_lora_rank(ranks) == expected
    assert expected in VLLM_LORA_RANKS


def test_a_rank_vllm_cannot_serve_is_refused() -> None:
    with pytest.raises(ConfigError, match="larger than the largest rank vLLM serves"):
        max_lora_rank([513])


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ({"peft_type": "LORA", "r": 0}, "positive integers"),
        ({"peft_type": "LORA"}, "positive integers"),
        ({"peft_type": "PREFIX_TUNING", "r": 8}, "LoRA adapters only"),
    ],
)
def test_bad_adapter_configs_are_refused(
    tmp_path: Path, content: dict[str, Any], reason: str
) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "adapter_config.json").write_text(json.dumps(content))
    with pytest.raises(ConfigError, match=reason):
        discover_adapters(tmp_path)


def test_an_adapter_may_not_shadow_the_served_model() -> None:
    adapter = Adapter(name="phi", path=Path("/mnt/adapters/phi"), rank=8)
    with pytest.raises(ConfigError, match="served model's own name"):
        build_argv(InferenceConfig(model="org/phi", served_model_name="phi"), [adapter])


def test_extra_args_replace_typed_flags_and_come_last() -> None:
    config = InferenceConfig(
        model="org/model",
        max_model_len=4096,
        extra_args=("--max-model-len=8192", "--enforce-eager"),
    )
    argv = build_argv(config)
    assert "--max-model-len" not in argv
    assert argv[-2:] == ("--max-model-len=8192", "--enforce-eager")


def test_kaito_vllm_section_becomes_flags() -> None:
    document = {
        "vllm": {
            "gpu-memory-utilization": 0.95,
            "max_model_len": 2048,
            "enforce-eager": True,
            "enable-prefix-caching": False,
            "cpu-offload-gb": None,
            "allowed-origins": ["a", "b"],
            "compilation-config": {"mode": 0},
        },
        "max_probe_steps": 6,
    }
    assert kaito_vllm_flags(document) == (
        "--gpu-memory-utilization=0.95",
        "--max-model-len=2048",
        "--enforce-eager",
        *("--allowed-origins", "a", "b"),
        '--compilation-config={"mode":0}',
    )
    assert kaito_vllm_flags({"max_probe_steps": 6}) == ()


def test_the_override_file_wins_over_extra_args_and_typed_flags(tmp_path: Path) -> None:
    override = tmp_path / "inference_config.yaml"
    override.write_text(yaml.safe_dump({"vllm": {"max-model-len": 1024}}))
    config = InferenceConfig(
        model="org/model",
        max_model_len=4096,
        extra_args=("--max-model-len=8192",),
        override_config=str(override),
    )
    argv = prepare_launch(config, {}).argv
    assert [a for a in argv if a.startswith("--max-model-len")] == [
        "--max-model-len=8192",
        "--max-model-len=1024",
    ]
    # argparse keeps the last occurrence: the override file's value.
    assert argv[-1] == "--max-model-len=1024"


def test_print_args_shows_exactly_what_would_run(tmp_path: Path) -> None:
    write_adapter(tmp_path / "adapters", "support-bot", rank=16)
    config = {
        "apiVersion": "modelsync.dev/v1alpha1",
        "kind": "InferenceConfig",
        "model": str(tmp_path),
        "servedModelName": "tiny",
        "adaptersDir": str(tmp_path / "adapters"),
        "maxNumSeqs": 4,
    }
    path = tmp_path / "inference.yaml"
    path.write_text(yaml.safe_dump(config))
    environ = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    args = ["--config", str(path), "--print-args"]
    result = run_program("modelsync-launch", args, timeout=60, env=environ)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    expected = prepare_launch(
        InferenceConfig(
            model=str(tmp_path),
            served_model_name="tiny",
            adapters_dir=str(tmp_path / "adapters"),
            max_num_seqs=4,
        ),
        {},
    )
    assert printed["argv"][1:] == list(expected.argv[1:])
    assert Path(printed["argv"][0]).name.startswith("python")
    assert printed["env"] == {"HF_HUB_OFFLINE": "1"}


@pytest.mark.slow
def test_the_installed_vllm_accepts_every_flag_and_rank(tmp_path: Path) -> None:
    """Contract with vLLM itself: its own parser reads our argv, and its rank list is ours."""
    config = InferenceConfig(
        model="org/model",
        max_model_len=4096,
        max_num_seqs=8,
        chat_template="/etc/chat.jinja",
        extra_args=("--enforce-eager",),
    )
    adapters = [Adapter("a", tmp_path / "a", 8), Adapter("b", tmp_path / "b", 12)]
    argv = build_argv(config, adapters, kaito_vllm_flags({"vllm": {"gpu-memory-utilization": 0.8}}))
    probe = (
        "import json, sys, typing\n"
        "from vllm.config.lora import MaxLoRARanks\n"
        "from vllm.entrypoints.launchers.cli_args import make_arg_parser\n"
        "from vllm.utils.argparse_utils import FlexibleArgumentParser\n"
        "args = make_arg_parser(FlexibleArgumentParser()).parse_args(sys.argv[1:])\n"
        "print(json.dumps({'ranks': typing.get_args(MaxLoRARanks),"
        " 'loras': [m.name for m in args.lora_modules], 'rank': args.max_lora_rank,"
        " 'max_model_len': args.max_model_len, 'eager': args.enforce_eager}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, *argv[3:]],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert tuple(parsed["ranks"]) == VLLM_LORA_RANKS
    assert parsed == {
        "ranks": parsed["ranks"],
        "loras": ["a", "b"],
        "rank": 16,
        "max_model_len": 4096,
        "eager": True,
    }
