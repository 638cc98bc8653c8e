"""A FAISS vector store for LlamaIndex that can delete, and persists without ``eval``.

Why not the integration's own stores: ``FaissVectorStore`` cannot delete at all, and
``FaissMapVectorStore`` numbers new vectors by the index's current size (after a delete
the next vector reuses a live id) and reads its id map back with ``eval``, running
whatever a volume holds. Here FAISS keeps exact inner-product search over normalized
embeddings (cosine) in an ``IndexIDMap2``; ids come from a counter that only grows, and
the id maps are JSON beside FAISS's own file.

Only vectors live here; node text and metadata stay in LlamaIndex's docstore
(``stores_text = False``), which is how ``VectorStoreIndex`` uses every such store.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    VectorStoreQuery,
    VectorStoreQueryResult,
)

__all__ = ["IdMapFaissStore"]

_IDS_SUFFIX = ".ids.json"


class IdMapFaissStore(BasePydanticVectorStore):
    """Exact cosine search with deletes, one per RAG index."""

    stores_text: bool = False
    _index: Any = PrivateAttr()
    _next_id: int = PrivateAttr(default=0)
    _node_of: dict[int, str] = PrivateAttr(default_factory=dict)
    _ids_of_doc: dict[str, list[int]] = PrivateAttr(default_factory=dict)

    def __init__(self, dimension: int, index: Any = None) -> None:
        super().__init__()
        self._index = (
            index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
        )

    @classmethod
    def class_name(cls) -> str:
        return "IdMapFaissStore"

    @property
    def client(self) -> Any:
        return self._index

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def add(self, nodes: list[BaseNode], **add_kwargs: Any) -> list[str]:
        if not nodes:
            return []
        vectors = np.asarray([node.get_embedding() for node in nodes], dtype="float32")
        ids = np.arange(self._next_id, self._next_id + len(nodes), dtype="int64")
        self._index.add_with_ids(vectors, ids)
        self._next_id += len(nodes)
        for faiss_id, node in zip(ids.tolist(), nodes, strict=True):
            self._node_of[faiss_id] = node.node_id
            self._ids_of_doc.setdefault(node.ref_doc_id or node.node_id, []).append(faiss_id)
        return [node.node_id for node in nodes]

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        ids = self._ids_of_doc.pop(ref_doc_id, [])
        if ids:
            self._index.remove_ids(np.asarray(ids, dtype="int64"))
        for faiss_id in ids:
            self._node_of.pop(faiss_id, None)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        # Metadata filters are applied by the engine on the docstore's nodes (it asks for
        # every vector when a filter is set: a flat index scans them all anyway).
        if query.query_embedding is None or self.size == 0:
            return VectorStoreQueryResult(similarities=[], ids=[])
        vector = np.asarray([query.query_embedding], dtype="float32")
        scores, ids = self._index.search(vector, min(query.similarity_top_k, self.size))
        found = [(float(s), int(i)) for s, i in zip(scores[0], ids[0], strict=True) if i >= 0]
        return VectorStoreQueryResult(
            similarities=[score for score, _ in found],
            ids=[self._node_of[faiss_id] for _, faiss_id in found],
        )

    def persist(self, persist_path: str, fs: Any = None) -> None:
        path = Path(persist_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self._index, os.fspath(path))
        state = {
            "next_id": self._next_id,
            "node_of": {str(k): v for k, v in self._node_of.items()},
            "ids_of_doc": self._ids_of_doc,
        }
        Path(persist_path + _IDS_SUFFIX).write_text(json.dumps(state), encoding="utf-8")

    @classmethod
    def from_persist_path(cls, persist_path: str) -> IdMapFaissStore:
        index = faiss.read_index(persist_path)
        state = json.loads(Path(persist_path + _IDS_SUFFIX).read_text(encoding="utf-8"))
        store = cls(dimension=index.d, index=index)
        store._next_id = int(state["next_id"])
        store._node_of = {int(k): str(v) for k, v in state["node_of"].items()}
        store._ids_of_doc = {str(k): [int(i) for i in v] for k, v in state["ids_of_doc"].items()}
        if len(store._node_of) != store.size:
            raise ValueError(
                f"{persist_path}: {store.size} vectors but {len(store._node_of)} ids in the map"
            )
        return store
