"""Named indexes of documents: add, update, delete, list, retrieve, persist, load.

Each index is a LlamaIndex ``VectorStoreIndex`` over its own ``IdMapFaissStore``; the
docstore holds the nodes and, under the document's id, the source document itself (its
full text and metadata, which the list and update routes answer from). A document's id
is the SHA-256 of its text unless the client gives one, as in KAITO, so indexing the
same text twice adds it once.

One lock for the engine: requests come from the web server's thread pool, and neither
LlamaIndex's docstore nor FAISS's id map may change under a reader. Retrieval is a few
milliseconds on an index this service holds; generation runs outside the lock.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llama_index.core import Document, StorageContext, VectorStoreIndex, load_index_from_storage

from modelsync_runtime.rag.config import RagConfig
from modelsync_runtime.rag.embedding import Embedding
from modelsync_runtime.rag.errors import BadRequestError, ConflictError, NotFoundError
from modelsync_runtime.rag.faiss_store import IdMapFaissStore
from modelsync_runtime.rag.splitting import CONTROL_KEYS, Splitters, UnknownLanguageError

__all__ = ["Engine", "NewDocument", "Retrieved", "StoredDocument"]

# A name becomes a folder under the persist directory: no separators, no dot-files.
_INDEX_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_VECTORS_FILE = "default__vector_store.json"


@dataclass(frozen=True)
class NewDocument:
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    doc_id: str = ""


@dataclass(frozen=True)
class StoredDocument:
    doc_id: str
    text: str
    metadata: dict[str, Any]
    hash_value: str
    is_truncated: bool = False


@dataclass(frozen=True)
class Retrieved:
    doc_id: str
    node_id: str
    text: str
    score: float
    metadata: dict[str, Any]


def check_index_name(name: str) -> str:
    if not _INDEX_NAME.match(name):
        raise BadRequestError(
            f"index name {name!r} must be 1-128 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _matches(metadata: Mapping[str, Any], wanted: Mapping[str, Any] | None) -> bool:
    return not wanted or all(metadata.get(key) == value for key, value in wanted.items())


class Engine:
    """Every index the service holds, in memory, with their files under ``persist_dir``."""

    def __init__(self, config: RagConfig, embedding: Embedding) -> None:
        self.config = config
        self.embedding = embedding
        self.splitters = Splitters(config, embedding.tokenize)
        self.persist_root = Path(config.persist_dir)
        self._indexes: dict[str, VectorStoreIndex] = {}
        self._lock = threading.RLock()

    # -- indexes ------------------------------------------------------------------------

    def list_indexes(self) -> list[str]:
        with self._lock:
            return sorted(self._indexes)

    def _index(self, name: str) -> VectorStoreIndex:
        try:
            return self._indexes[name]
        except KeyError:
            raise NotFoundError(f"no index named {name!r}") from None

    def _new_index(self) -> VectorStoreIndex:
        store = IdMapFaissStore(dimension=self.embedding.dimension)
        context = StorageContext.from_defaults(vector_store=store)
        return VectorStoreIndex(nodes=[], storage_context=context, embed_model=self.embedding.model)

    def delete_index(self, name: str) -> None:
        """Forget the index in memory; its persisted copy, if any, stays on the volume."""
        with self._lock:
            self._index(name)
            del self._indexes[name]

    # -- documents ----------------------------------------------------------------------

    def _document(self, new: NewDocument, doc_id: str) -> Document:
        if not new.text.strip():
            raise BadRequestError(f"document {doc_id or '(new)'} has no text")
        metadata = dict(new.metadata)
        try:
            self.splitters.for_metadata(metadata)
        except UnknownLanguageError as e:
            raise BadRequestError(str(e)) from e
        return Document(
            text=new.text,
            id_=doc_id or hashlib.sha256(new.text.encode("utf-8")).hexdigest(),
            metadata=metadata,
            excluded_embed_metadata_keys=[key for key in CONTROL_KEYS if key in metadata],
        )

    def _insert(self, index: VectorStoreIndex, documents: Sequence[Document]) -> None:
        """Split, then embed the nodes of all the documents in one call: the model works
        in batches (``embeddingBatchSize``), and a document at a time leaves it batches
        of one."""
        nodes = [
            node
            for document in documents
            for node in self.splitters.for_metadata(document.metadata).get_nodes_from_documents(
                [document]
            )
        ]
        index.insert_nodes(nodes)
        index.docstore.add_documents(list(documents), allow_update=True)

    def _remove(self, index: VectorStoreIndex, doc_id: str) -> None:
        index.delete_ref_doc(doc_id, delete_from_docstore=True)
        index.docstore.delete_document(doc_id, raise_error=False)

    def _stored(self, index: VectorStoreIndex, doc_id: str) -> Document | None:
        if index.docstore.get_ref_doc_info(doc_id) is None:
            return None
        document = index.docstore.get_document(doc_id, raise_error=False)
        return document if isinstance(document, Document) else None

    def add_documents(self, name: str, documents: Sequence[NewDocument]) -> list[StoredDocument]:
        """Create the index if needed and add the documents it does not hold yet."""
        check_index_name(name)
        prepared = [self._document(new, new.doc_id) for new in documents]
        with self._lock:
            index = self._indexes.get(name) or self._new_index()
            # Each text once: twice in one request, or already in the index, is added once.
            new = {d.doc_id: d for d in prepared if self._stored(index, d.doc_id) is None}
            self._insert(index, list(new.values()))
            self._indexes[name] = index
            return [_as_stored(document) for document in prepared]

    def update_documents(
        self, name: str, documents: Sequence[NewDocument]
    ) -> tuple[list[StoredDocument], list[StoredDocument], list[StoredDocument]]:
        """Replace documents by id: (updated, unchanged, not found)."""
        updated, unchanged, missing = [], [], []
        with self._lock:
            index = self._index(name)
            for new in documents:
                if not new.doc_id:
                    raise BadRequestError("every document to update needs its doc_id")
                document = self._document(new, new.doc_id)
                old = self._stored(index, new.doc_id)
                if old is None:
                    missing.append(_as_stored(document))
                elif old.hash == document.hash:
                    unchanged.append(_as_stored(document))
                else:
                    self._remove(index, new.doc_id)
                    self._insert(index, [document])
                    updated.append(_as_stored(document))
        return updated, unchanged, missing

    def delete_documents(self, name: str, doc_ids: Iterable[str]) -> tuple[list[str], list[str]]:
        """Remove documents and their nodes: (deleted ids, ids not found)."""
        deleted, missing = [], []
        with self._lock:
            index = self._index(name)
            for doc_id in doc_ids:
                if self._stored(index, doc_id) is None:
                    missing.append(doc_id)
                else:
                    self._remove(index, doc_id)
                    deleted.append(doc_id)
        return deleted, missing

    def list_documents(
        self,
        name: str,
        *,
        limit: int,
        offset: int,
        max_text_length: int | None,
        metadata_filter: Mapping[str, Any] | None = None,
    ) -> tuple[list[StoredDocument], int]:
        """One page of the index's documents in the order they were added, and the total."""
        with self._lock:
            index = self._index(name)
            documents = [
                document
                for doc_id in index.docstore.get_all_ref_doc_info() or {}
                if (document := self._stored(index, doc_id)) is not None
                and _matches(document.metadata, metadata_filter)
            ]
        page = documents[offset : offset + limit]
        return [_as_stored(document, max_text_length) for document in page], len(documents)

    def document_count(self, name: str) -> int:
        with self._lock:
            return len(self._index(name).docstore.get_all_ref_doc_info() or {})

    # -- retrieval ----------------------------------------------------------------------

    def retrieve(
        self, name: str, query: str, top_k: int, metadata_filter: Mapping[str, Any] | None = None
    ) -> list[Retrieved]:
        """The ``top_k`` nodes most similar to ``query``, best first."""
        if not query.strip():
            raise BadRequestError("the query is empty")
        if not 1 <= top_k <= self.config.max_top_k:
            raise BadRequestError(f"top_k must be in [1, {self.config.max_top_k}], got {top_k}")
        with self._lock:
            index = self._index(name)
            size = index.vector_store.size
            if size == 0:
                return []
            # With a filter, rank every vector and keep the first top_k that match:
            # exact, and a flat index compares the query with every vector anyway.
            wanted = size if metadata_filter else min(top_k, size)
            found = index.as_retriever(similarity_top_k=wanted).retrieve(query)
        results = [
            Retrieved(
                doc_id=item.node.ref_doc_id or "",
                node_id=item.node.node_id,
                text=item.node.get_content(),
                score=float(item.score or 0.0),
                metadata=dict(item.node.metadata),
            )
            for item in found
            if _matches(item.node.metadata, metadata_filter)
        ]
        return results[:top_k]

    # -- persistence --------------------------------------------------------------------

    def _location(self, name: str, path: str | None) -> Path:
        """Where an index's files go: ``<persistDir>/<name>`` or a folder inside it."""
        root = self.persist_root.resolve()
        target = (root / name) if not path else Path(path)
        target = (target if target.is_absolute() else root / target).resolve()
        if target != root and root not in target.parents:
            raise BadRequestError(f"path {path!r} is outside the persist directory {root}")
        if target == root:
            raise BadRequestError("an index needs its own folder inside the persist directory")
        return target

    def persist(self, name: str, path: str | None = None) -> Path:
        """Write the index to disk; a crash mid-write leaves the previous copy whole."""
        check_index_name(name)
        with self._lock:
            index = self._index(name)
            target = self._location(name, path)
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.with_name(f".{target.name}.new-{uuid.uuid4().hex[:8]}")
            index.storage_context.persist(persist_dir=staging)
            retired = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
            if target.exists():
                target.rename(retired)
            staging.rename(target)
            shutil.rmtree(retired, ignore_errors=True)
        return target

    def load(self, name: str, path: str | None = None, *, overwrite: bool = False) -> Path:
        """Read a persisted index into memory under ``name``."""
        check_index_name(name)
        source = self._location(name, path)
        if not (source / _VECTORS_FILE).is_file():
            raise NotFoundError(f"no persisted index at {source}")
        with self._lock:
            if name in self._indexes and not overwrite:
                raise ConflictError(f"index {name!r} is already loaded; pass overwrite=true")
            try:
                store = IdMapFaissStore.from_persist_path(str(source / _VECTORS_FILE))
                context = StorageContext.from_defaults(persist_dir=str(source), vector_store=store)
                index = load_index_from_storage(context, embed_model=self.embedding.model)
            except (OSError, ValueError, KeyError, RuntimeError) as e:
                raise ConflictError(f"cannot load the index at {source}: {e}") from e
            if store.client.d != self.embedding.dimension:
                raise ConflictError(
                    f"{source} holds {store.client.d}-dimensional vectors; "
                    f"the embedding model makes {self.embedding.dimension}"
                )
            self._indexes[name] = index
        return source

    def load_all(self) -> list[str]:
        """Load every index persisted under the persist directory (at start-up)."""
        if not self.persist_root.is_dir():
            return []
        loaded = []
        for folder in sorted(self.persist_root.iterdir()):
            if _INDEX_NAME.match(folder.name) and (folder / _VECTORS_FILE).is_file():
                self.load(folder.name, overwrite=True)
                loaded.append(folder.name)
        return loaded


def _as_stored(document: Document, max_text_length: int | None = None) -> StoredDocument:
    text = document.text
    cut = max_text_length is not None and len(text) > max_text_length
    return StoredDocument(
        doc_id=document.doc_id,
        text=text[:max_text_length] if cut else text,
        metadata=dict(document.metadata),
        hash_value=document.hash,
        is_truncated=bool(cut),
    )
