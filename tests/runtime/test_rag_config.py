"""``rag.yaml`` and KAITO's variables -> ``RagConfig``; ``modelsync-rag`` refuses bad ones.

Pure checks plus the installed entry point's ``--check`` (no model is loaded for those).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from modelsync_runtime.errors import ConfigError
from modelsync_runtime.rag.config import API_VERSION, KIND, parse_rag_config

from tests.runtime.processes import run_program

HEADER = {"apiVersion": API_VERSION, "kind": KIND}


def config(**keys: Any) -> dict[str, Any]:
    return {**HEADER, "embeddingModel": "/models/minilm", **keys}


def test_defaults_are_the_charts() -> None:
    parsed = parse_rag_config(config(), {})
    assert parsed.persist_dir == "/mnt/rag/indexes"
    assert (parsed.host, parsed.port) == ("0.0.0.0", 5000)
    assert parsed.inference_url == ""
    assert parsed.embedding_model_is_local


def test_kaitos_variables_win_over_the_file() -> None:
    environment = {
        "MODEL_ID": "/mnt/embedding",
        "LLM_INFERENCE_URL": "http://workspace-phi/v1/chat/completions",
        "LLM_CONTEXT_WINDOW": "8192",
        "DEFAULT_VECTOR_DB_PERSIST_DIR": "/mnt/vector-db",
    }
    parsed = parse_rag_config(config(contextWindow=1024), environment)
    assert parsed.embedding_model == "/mnt/embedding"
    assert parsed.context_window == 8192
    assert parsed.persist_dir == "/mnt/vector-db"
    # KAITO passes the full chat URL; the openai client wants the base.
    assert parsed.inference_base_url == "http://workspace-phi/v1"


def test_variables_alone_are_enough() -> None:
    parsed = parse_rag_config(None, {"LOCAL_EMBEDDING_MODEL_ID": "BAAI/bge-small-en-v1.5"})
    assert parsed.embedding_model == "BAAI/bge-small-en-v1.5"
    assert not parsed.embedding_model_is_local


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"chunkSize": 100, "chunkOverlap": 100}, "chunkOverlap must be smaller than chunkSize"),
        ({"contextTokenRatio": 0.9}, "contextTokenRatio"),
        ({"inferenceUrl": "workspace:80"}, "inferenceUrl: must be an http"),
        ({"port": 0}, "port"),
        ({"chunkSize": "big"}, "chunkSize"),
        ({"topK": 3}, "topK: Extra inputs are not permitted"),
    ],
)
def test_bad_values_are_named(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rag_config(config(**keys), {})


def test_the_embedding_model_is_required() -> None:
    with pytest.raises(ConfigError, match="embeddingModel"):
        parse_rag_config(dict(HEADER), {})


def test_the_kind_is_checked() -> None:
    with pytest.raises(ConfigError, match="kind: RAGConfig"):
        parse_rag_config({**config(), "kind": "InferenceConfig"}, {})


def test_check_prints_the_merged_config(tmp_path: Path) -> None:
    path = tmp_path / "rag.yaml"
    path.write_text(json.dumps(config(port=5001)))
    result = run_program(
        "modelsync-rag", ["--config", str(path), "--check", "--port", "6000"], timeout=60
    )
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert printed["port"] == 6000
    assert printed["embeddingModel"] == "/models/minilm"


def test_a_bad_file_exits_2_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "rag.yaml"
    path.write_text(json.dumps(config(chunkOverlap=500)))
    result = run_program("modelsync-rag", ["--config", str(path)], timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"modelsync-rag: error: {path}: chunkOverlap must be smaller than chunkSize"
    ]


def test_an_unwritable_persist_dir_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    path = tmp_path / "rag.yaml"
    path.write_text(json.dumps(config(persistDir=str(blocker / "indexes"))))
    result = run_program("modelsync-rag", ["--config", str(path)], timeout=60)
    assert result.returncode == 2
    assert "persistDir" in result.stderr
    assert "Traceback" not in result.stderr
