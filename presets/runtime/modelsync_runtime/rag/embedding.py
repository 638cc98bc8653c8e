"""The local embedding model, through LlamaIndex's Hugging Face (sentence-transformers)
integration, and a token counter in that model's own vocabulary.

A model given as an absolute path is read from disk with the hub switched off, the way the
launcher treats a local vLLM model; an id is fetched into ``HF_HOME`` once (the chart's
volume) when the pod has network. Embeddings are normalized, so FAISS's inner product is
the cosine similarity.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelsync_runtime.errors import ConfigError
from modelsync_runtime.rag.config import RagConfig

__all__ = ["Embedding", "load_embedding"]


@dataclass(frozen=True)
class Embedding:
    """The LlamaIndex embedding model, its vector size and its tokenizer."""

    model: Any
    dimension: int
    tokenize: Callable[[str], list[int]]

    def count_tokens(self, text: str) -> int:
        return len(self.tokenize(text))


def load_embedding(config: RagConfig) -> Embedding:
    if config.embedding_model_is_local:
        if not Path(config.embedding_model).is_dir():
            raise ConfigError(f"embeddingModel {config.embedding_model} is not a directory")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Imported here: torch and sentence-transformers take seconds, and a bad config file
    # should fail before paying for them.
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding  # noqa: PLC0415

    try:
        model = HuggingFaceEmbedding(
            model_name=config.embedding_model,
            device=config.embedding_device,
            embed_batch_size=config.embedding_batch_size,
            normalize=True,
        )
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot load embedding model {config.embedding_model}: {e}") from e
    tokenizer = model._model.tokenizer  # the SentenceTransformer's own tokenizer

    def tokenize(text: str) -> list[int]:
        ids: list[int] = tokenizer.encode(text, add_special_tokens=False)
        return ids

    dimension = len(model.get_text_embedding("dimension probe"))
    return Embedding(model=model, dimension=dimension, tokenize=tokenize)
