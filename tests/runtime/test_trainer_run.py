"""``modelsync-train`` fine-tunes the tiny Llama on CPU: it learns, it saves an adapter and a
completion marker, and a run killed midway picks up from its last checkpoint."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from statistics import mean

import pytest

from tests.runtime.processes import BIN, json_events, run_program
from tests.runtime.training import TrainerRun, lora_sections, train, write_training_config

pytestmark = pytest.mark.slow


def test_lora_training_lowers_the_loss(trained_adapter: TrainerRun) -> None:
    (start,) = trained_adapter.of("start")
    assert start["method"] == "lora"
    assert start["device"] == "cpu"
    assert start["resume_from"] is None
    losses = [event["loss"] for event in trained_adapter.of("log") if "loss" in event]
    assert len(losses) == 40
    assert mean(losses[-5:]) < mean(losses[:5]) - 0.5, losses


def test_the_adapter_and_the_marker_are_written(trained_adapter: TrainerRun) -> None:
    output = trained_adapter.output_dir
    adapter_config = json.loads((output / "adapter_config.json").read_text())
    assert adapter_config["r"] == 8
    assert set(adapter_config["target_modules"]) == {"q_proj", "k_proj", "v_proj", "o_proj"}
    assert (output / "adapter_model.safetensors").stat().st_size > 0
    marker = json.loads((output / ".modelsync-complete").read_text())
    assert marker["method"] == "lora"
    assert marker["globalStep"] == 40
    assert marker["resumedFromStep"] == 0
    assert marker["adapterFiles"] == ["adapter_config.json", "adapter_model.safetensors"]
    assert marker["trainLoss"] > 0
    (done,) = trained_adapter.of("done")
    assert done["marker"] == str(output / ".modelsync-complete")
    checkpoints = sorted(p.name for p in (output / "checkpoints").iterdir())
    assert checkpoints == ["checkpoint-20", "checkpoint-40"]


def test_a_completed_output_is_not_trained_again(
    trained_adapter: TrainerRun, tiny_model: Path, qa_data_dir: Path
) -> None:
    began = time.monotonic()
    code, stdout, stderr = train(
        tiny_model, qa_data_dir, trained_adapter.output_dir, lora_sections()
    )
    assert code == 0, stderr
    assert [event["event"] for event in json_events(stdout)] == ["already_complete"]
    assert time.monotonic() - began < 10


def test_a_killed_run_resumes_from_its_last_checkpoint(
    tiny_model: Path, qa_data_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "output"
    sections = lora_sections(max_steps=120, save_steps=10, learning_rate=0.005)
    config = write_training_config(tmp_path / "training_config.yaml", sections)
    args = [
        *("--config", str(config), "--model", str(tiny_model)),
        *("--data-dir", str(qa_data_dir), "--output-dir", str(output)),
    ]
    seen: list[dict[str, object]] = []
    first_checkpoint = 0
    with subprocess.Popen(
        [str(BIN / "modelsync-train"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            event = json.loads(line)
            seen.append(event)
            step = int(str(event.get("step", 0)))
            if event["event"] == "checkpoint" and not first_checkpoint:
                first_checkpoint = step
            if event["event"] == "log" and first_checkpoint and step > first_checkpoint:
                # Training has moved past a complete checkpoint: pull the plug like an
                # evicted pod would.
                process.send_signal(signal.SIGKILL)
                break
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL, seen[-3:]
    assert first_checkpoint == 10
    assert not (output / ".modelsync-complete").exists()

    resumed = run_program("modelsync-train", args)
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    events = json_events(resumed.stdout)
    (start,) = [e for e in events if e["event"] == "start"]
    assert start["resumed_step"] >= first_checkpoint
    assert start["resume_from"] == str(
        output / "checkpoints" / f"checkpoint-{start['resumed_step']}"
    )
    steps = [e["step"] for e in events if e["event"] == "log" and "loss" in e]
    # Training went on from the checkpoint instead of starting over at step 1.
    assert steps[0] == start["resumed_step"] + 1
    assert steps[-1] == 120
    marker = json.loads((output / ".modelsync-complete").read_text())
    assert marker["globalStep"] == 120
    assert marker["resumedFromStep"] == start["resumed_step"]
    state = json.loads(
        (output / "checkpoints" / "checkpoint-120" / "trainer_state.json").read_text()
    )
    assert state["global_step"] == 120
    logged_steps = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    # The history carried over from before the kill is continued, not restarted.
    assert logged_steps[: start["resumed_step"]] == list(range(1, start["resumed_step"] + 1))


def test_a_held_out_split_is_evaluated(tiny_model: Path, qa_data_dir: Path, tmp_path: Path) -> None:
    sections = lora_sections(max_steps=10, save_steps=10, eval_strategy="steps", eval_steps=5)
    sections["DatasetConfig"] = {"train_test_split": 0.75}
    code, stdout, stderr = train(tiny_model, qa_data_dir, tmp_path / "output", sections)
    assert code == 0, stderr[-4000:]
    events = json_events(stdout)
    (start,) = [e for e in events if e["event"] == "start"]
    assert (start["train_examples"], start["eval_examples"]) == (24, 8)
    # Every eval_steps during training, and once more at the end for the marker.
    assert [e["step"] for e in events if e["event"] == "log" and "eval_loss" in e] == [5, 10, 10]
    (final,) = [e for e in events if e["event"] == "eval"]
    marker = json.loads((tmp_path / "output" / ".modelsync-complete").read_text())
    assert marker["evalLoss"] == final["eval_loss"] > 0
