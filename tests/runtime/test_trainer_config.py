"""KAITO training config: several files merged key by key, then validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from modelsync_runtime.errors import ConfigError
from modelsync_runtime.trainer.cli import check_quantization_support
from modelsync_runtime.trainer.config import (
    DatasetSettings,
    load_training_config,
    merge_sections,
    parse_training_config,
)

from tests.runtime.processes import run_program
from tests.runtime.training import write_training_config

PRESET = {
    "ModelConfig": {"torch_dtype": "bfloat16", "local_files_only": True, "device_map": "auto"},
    "LoraConfig": {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": ["q_proj"]},
    "TrainingArguments": {"num_train_epochs": 3, "per_device_train_batch_size": 2},
    "DataCollator": {"mlm": True},
    "DatasetConfig": {"shuffle_dataset": True, "train_test_split": 1},
}


def test_later_files_win_key_by_key(tmp_path: Path) -> None:
    base = write_training_config(tmp_path / "preset.yaml", PRESET)
    override = tmp_path / "workspace.yaml"
    override.write_text(
        yaml.safe_dump(
            {
                "training_config": {
                    "LoraConfig": {"r": 16, "target_modules": ["q_proj", "v_proj"]},
                    "TrainingArguments": {
                        "num_train_epochs": 1,
                        "per_device_train_batch_size": None,
                    },
                    "DatasetConfig": {"context_column": "question", "response_column": "answer"},
                }
            }
        )
    )
    config = load_training_config([base, override])
    assert config.lora == {
        "r": 16,
        "lora_alpha": 16,
        "lora_dropout": 0.05,
        "target_modules": ["q_proj", "v_proj"],
    }
    # null removes a key: the library default applies again.
    assert config.training_arguments == {"num_train_epochs": 1}
    assert config.model["device_map"] == "auto"
    assert config.dataset == DatasetSettings(
        shuffle_dataset=True,
        train_test_split=1,
        context_column="question",
        response_column="answer",
    )
    assert not config.quantized


def test_an_override_file_may_leave_out_the_training_config_wrapper(tmp_path: Path) -> None:
    base = write_training_config(tmp_path / "preset.yaml", PRESET)
    bare = tmp_path / "bare.yaml"
    bare.write_text(yaml.safe_dump({"LoraConfig": {"r": 4}}))
    assert load_training_config([base, bare]).lora["r"] == 4


def test_merge_does_not_touch_its_inputs() -> None:
    base = {"LoraConfig": {"r": 8}}
    merged = merge_sections(base, {"LoraConfig": {"r": 16}, "DatasetConfig": {"shuffle_seed": 1}})
    assert base == {"LoraConfig": {"r": 8}}
    assert merged == {"LoraConfig": {"r": 16}, "DatasetConfig": {"shuffle_seed": 1}}


def test_kaito_defaults_apply() -> None:
    config = parse_training_config({})
    assert config.dataset.train_test_split == 0.8
    assert config.dataset.response_column == "text"
    assert config.pad_to_multiple_of is None


def test_a_quantization_config_that_loads_in_4_bits_means_qlora() -> None:
    config = parse_training_config({"QuantizationConfig": {"load_in_4bit": True}})
    assert config.quantized
    with pytest.raises(ConfigError, match="needs a CUDA GPU and bitsandbytes"):
        check_quantization_support(config, cuda_available=False)
    check_quantization_support(parse_training_config({}), cuda_available=False)


@pytest.mark.parametrize(
    ("sections", "reason"),
    [
        ({"DatasetConfig": {"dataset_pth": "x"}}, "DatasetConfig: unknown key dataset_pth"),
        ({"DatasetConfig": {"train_test_split": 0}}, "train_test_split must be in (0, 1]"),
        ({"DatasetConfig": {"shuffle_dataset": "yes"}}, "shuffle_dataset has the wrong type"),
        ({"DatasetConfig": {"shuffle_seed": True}}, "shuffle_seed has the wrong type"),
        ({"DatasetConfig": {"max_seq_length": 4}}, "max_seq_length must be >= 8"),
        ({"DataCollator": {"mlm": False, "padding": True}}, "DataCollator: unknown keys padding"),
        ({"DataCollator": {"pad_to_multiple_of": 0}}, "pad_to_multiple_of must be a positive"),
        ({"LoraConfig": {"r": 0}}, "LoraConfig: r must be a positive integer"),
        ({"LoraConfig": {"target_modules": [1]}}, "target_modules must be a string or a list"),
    ],
)
def test_invalid_sections_are_named(sections: dict[str, Any], reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_training_config(sections)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"training_config": {"LoRAConfig": {"r": 8}}}, "unknown sections LoRAConfig"),
        ({"training_config": {"LoraConfig": [8]}}, "LoraConfig must be a mapping"),
        ({"training_config": {}, "inference": {}}, "unknown top-level keys inference"),
        (["LoraConfig"], "the document must be a mapping"),
    ],
)
def test_invalid_files_are_named(tmp_path: Path, document: Any, reason: str) -> None:
    path = tmp_path / "training_config.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match=reason):
        load_training_config([path])


def _train(args: list[str]) -> tuple[int, str, str]:
    result = run_program("modelsync-train", args, timeout=60)
    return result.returncode, result.stdout, result.stderr


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("modelsync-train: error: ")
    return lines[0]


def test_the_program_exits_2_on_bad_yaml(tmp_path: Path) -> None:
    path = tmp_path / "training_config.yaml"
    path.write_text("training_config: {LoraConfig: [unclosed\n")
    code, stdout, stderr = _train(["--config", str(path), "--model", "m"])
    assert (code, stdout) == (2, "")
    assert "is not valid YAML" in _one_error_line(stderr)


def test_the_program_exits_2_without_a_model(tmp_path: Path) -> None:
    path = write_training_config(tmp_path / "training_config.yaml", PRESET)
    code, _, stderr = _train(["--config", str(path), "--output-dir", str(tmp_path / "out")])
    assert code == 2
    assert "no model" in _one_error_line(stderr)


def test_qlora_on_a_cpu_exits_2_with_a_clear_message(tmp_path: Path) -> None:
    sections = {
        **PRESET,
        "QuantizationConfig": {"load_in_4bit": True, "bnb_4bit_quant_type": "nf4"},
    }
    path = write_training_config(tmp_path / "training_config.yaml", sections)
    args = ["--config", str(path), "--model", "m", "--output-dir", str(tmp_path / "out")]
    code, stdout, stderr = _train(args)
    assert (code, stdout) == (2, "")
    line = _one_error_line(stderr)
    assert "QLoRA" in line
    assert "no CUDA device" in line
    assert "use method: lora" in line
