"""Training helpers shared by the trainer tests, the serving tests and their fixtures:
the QA data set, KAITO config files, and running ``modelsync-train`` as the Job would."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.runtime.processes import run_program

__all__ = [
    "QA_PAIRS",
    "TrainerRun",
    "lora_sections",
    "qa_messages",
    "train",
    "write_jsonl",
    "write_training_config",
]

QA_PAIRS = (
    ("what is the capital of france?", "paris."),
    ("who jumps over the lazy dog?", "the quick brown fox."),
    ("where do pods run?", "on nodes."),
    ("what serves tiny llamas?", "modelsync with vllm."),
)


@dataclass(frozen=True)
class TrainerRun:
    """One finished ``modelsync-train`` run: its output folder and its JSON-lines events."""

    output_dir: Path
    events: list[dict[str, Any]]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["event"] == kind]


def qa_messages(repeat: int = 8) -> list[dict[str, Any]]:
    """Conversational rows: a system turn, a question and its short answer."""
    return [
        {
            "messages": [
                {"role": "system", "content": "answer briefly."},
                {"role": "user", "content": question},
                {"role": "assistant", "content": answer},
            ]
        }
        for _ in range(repeat)
        for question, answer in QA_PAIRS
    ]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_training_config(path: Path, sections: Mapping[str, Any]) -> Path:
    """KAITO's file format: ``training_config: {Section: {...}}``."""
    path.write_text(yaml.safe_dump({"training_config": dict(sections)}), encoding="utf-8")
    return path


def lora_sections(**arguments: Any) -> dict[str, Any]:
    """A LoRA config that visibly learns the QA pairs on the tiny model in seconds."""
    return {
        "ModelConfig": {"torch_dtype": "float32", "local_files_only": True},
        "LoraConfig": {
            "r": 8,
            "lora_alpha": 16,
            "lora_dropout": 0.0,
            "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
        },
        "TrainingArguments": {
            "max_steps": 40,
            "per_device_train_batch_size": 4,
            "learning_rate": 0.01,
            "logging_steps": 1,
            "save_steps": 20,
            "seed": 0,
            **arguments,
        },
        "DatasetConfig": {"train_test_split": 1},
    }


def train(
    model: Path, data_dir: Path, output_dir: Path, sections: Mapping[str, Any]
) -> tuple[int, str, str]:
    """Run ``modelsync-train`` to the end; returns (exit code, stdout, stderr)."""
    config = write_training_config(output_dir.parent / f"{output_dir.name}.yaml", sections)
    result = run_program(
        "modelsync-train",
        [
            *("--config", str(config), "--model", str(model)),
            *("--data-dir", str(data_dir), "--output-dir", str(output_dir)),
        ],
    )
    return result.returncode, result.stdout, result.stderr
