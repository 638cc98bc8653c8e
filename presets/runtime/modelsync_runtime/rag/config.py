"""The RAG service's settings: ``rag.yaml`` (kind ``RAGConfig``) and KAITO's variables.

The chart mounts a file; KAITO's RAGEngine controller sets environment variables
(``LLM_INFERENCE_URL``, ``LLM_CONTEXT_WINDOW``, ...). Both are accepted, the variables
winning key by key, so a pod spec written for KAITO's image configures this one too.
Secrets (``LLM_ACCESS_SECRET``) come from the environment only, never from the file.

Pure apart from reading the one file; every problem is a ``ConfigError`` of one line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from modelsync_runtime.errors import ConfigError

__all__ = ["API_VERSION", "ENVIRONMENT_KEYS", "KIND", "RagConfig", "load_rag_config"]

API_VERSION = "modelsync.dev/v1alpha1"
KIND = "RAGConfig"

# KAITO's variable -> the file key it replaces. MODEL_ID is what KAITO's controller sets
# for a local embedding model; LOCAL_EMBEDDING_MODEL_ID is the service's own name for it.
ENVIRONMENT_KEYS: Mapping[str, str] = {
    "MODEL_ID": "embeddingModel",
    "LOCAL_EMBEDDING_MODEL_ID": "embeddingModel",
    "LLM_INFERENCE_URL": "inferenceUrl",
    "LLM_CONTEXT_WINDOW": "contextWindow",
    "DEFAULT_VECTOR_DB_PERSIST_DIR": "persistDir",
    "RAG_MAX_TOP_K": "maxTopK",
    "RAG_CONTEXT_TOKEN_FILL_RATIO": "contextTokenRatio",
}


class RagConfig(BaseModel):
    """Validated settings; the defaults are the chart's."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # A local folder (absolute path, read offline) or a Hugging Face id fetched into HF_HOME.
    embedding_model: str = Field(alias="embeddingModel", min_length=1)
    embedding_device: str = Field(default="cpu", alias="embeddingDevice")
    embedding_batch_size: int = Field(default=32, alias="embeddingBatchSize", ge=1)
    # The served model's OpenAI-compatible base URL (".../v1") or KAITO's full
    # ".../v1/chat/completions" URL; empty means a retrieval-only engine.
    inference_url: str = Field(default="", alias="inferenceUrl")
    # The model name sent when a request names none (the Workspace's served model name).
    inference_model: str = Field(default="", alias="inferenceModel")
    inference_timeout: float = Field(default=120.0, alias="inferenceTimeout", gt=0)
    context_window: int = Field(default=4096, alias="contextWindow", ge=256)
    context_token_ratio: float = Field(default=0.5, alias="contextTokenRatio", ge=0.2, le=0.8)
    persist_dir: str = Field(default="/mnt/rag/indexes", alias="persistDir", min_length=1)
    load_on_start: bool = Field(default=True, alias="loadOnStart")
    chunk_size: int = Field(default=200, alias="chunkSize", ge=16)
    chunk_overlap: int = Field(default=20, alias="chunkOverlap", ge=0)
    # LlamaIndex's CodeSplitter bounds chunks by characters only (its chunk_lines are unused).
    code_max_chars: int = Field(default=1500, alias="codeMaxChars", ge=64)
    default_top_k: int = Field(default=5, alias="defaultTopK", ge=1)
    max_top_k: int = Field(default=300, alias="maxTopK", ge=1)
    host: str = "0.0.0.0"  # noqa: S104 - a pod serves on all of its interfaces
    port: int = Field(default=5000, ge=1, le=65535)

    @field_validator("inference_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _overlap_below_size(self) -> RagConfig:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("chunkOverlap must be smaller than chunkSize")
        return self

    @property
    def inference_base_url(self) -> str:
        """The base URL the ``openai`` client wants, whichever form was configured."""
        return self.inference_url.removesuffix("/chat/completions")

    @property
    def embedding_model_is_local(self) -> bool:
        return self.embedding_model.startswith("/")


def _one_line(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    return "; ".join(problems)


def parse_rag_config(data: Any, environment: Mapping[str, str]) -> RagConfig:
    """Validate a decoded ``rag.yaml`` (or ``None``) with the environment laid over it."""
    if data is None:
        data = {"apiVersion": API_VERSION, "kind": KIND}
    if not isinstance(data, Mapping):
        raise ConfigError(f"the document must be a mapping, got {type(data).__name__}")
    if data.get("apiVersion") != API_VERSION or data.get("kind") != KIND:
        raise ConfigError(
            f"expected apiVersion: {API_VERSION} and kind: {KIND}, "
            f"got {data.get('apiVersion')!r} and {data.get('kind')!r}"
        )
    values = {key: value for key, value in data.items() if key not in {"apiVersion", "kind"}}
    for variable, key in ENVIRONMENT_KEYS.items():
        if environment.get(variable):
            values[key] = environment[variable]
    if "embeddingModel" not in values:
        raise ConfigError("embeddingModel (or MODEL_ID) is required: a local folder or an id")
    try:
        return RagConfig.model_validate(values)
    except ValidationError as e:
        raise ConfigError(_one_line(e)) from e


def load_rag_config(path: Path | None, environment: Mapping[str, str] | None = None) -> RagConfig:
    """Read ``path`` (when given) and the environment; messages name the file."""
    environment = os.environ if environment is None else environment
    data: Any = None
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"cannot read RAG config {path}: {e.strerror or e}") from e
        except yaml.YAMLError as e:
            raise ConfigError(f"{path} is not valid YAML: {' '.join(str(e).split())}") from e
    try:
        return parse_rag_config(data, environment)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path is not None else str(e)) from e
