"""Request and response bodies of the HTTP API, named and shaped as KAITO's RAGEngine's.

The field names are KAITO's (``index_name``, ``doc_id``, ``hash_value``, ``source_nodes``,
``max_node_count``...), so KAITO's clients (``kaito-rag-engine-client``, curl examples
from its docs) work unchanged; FastAPI turns these models into ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "DeleteDocumentRequest",
    "DeleteDocumentResponse",
    "Document",
    "HealthStatus",
    "IndexRequest",
    "ListDocumentsResponse",
    "Message",
    "NodeWithScore",
    "QueryRequest",
    "QueryResponse",
    "RetrieveRequest",
    "RetrieveResponse",
    "UpdateDocumentRequest",
    "UpdateDocumentResponse",
]


class Document(BaseModel):
    doc_id: str = Field(default="", description="SHA-256 of the text unless given")
    text: str
    metadata: dict[str, Any] | None = Field(default_factory=dict)
    hash_value: str | None = None
    is_truncated: bool = False


class IndexRequest(BaseModel):
    index_name: str
    documents: list[Document] = Field(min_length=1)


class ListDocumentsResponse(BaseModel):
    documents: list[Document]
    count: int = Field(description="documents in this page")
    total_items: int = Field(description="documents matching the filter in the whole index")


class UpdateDocumentRequest(BaseModel):
    documents: list[Document] = Field(min_length=1)


class UpdateDocumentResponse(BaseModel):
    updated_documents: list[Document]
    unchanged_documents: list[Document]
    not_found_documents: list[Document]


class DeleteDocumentRequest(BaseModel):
    doc_ids: list[str] = Field(min_length=1)


class DeleteDocumentResponse(BaseModel):
    deleted_doc_ids: list[str]
    not_found_doc_ids: list[str]


class NodeWithScore(BaseModel):
    doc_id: str
    node_id: str
    text: str
    score: float
    metadata: dict[str, Any] | None = None


class RetrieveRequest(BaseModel):
    index_name: str
    query: str = Field(min_length=1)
    max_node_count: int = Field(default=5, ge=1)
    metadata_filter: dict[str, Any] | None = None


class RetrieveResponse(BaseModel):
    query: str
    results: list[NodeWithScore]
    count: int


class QueryRequest(BaseModel):
    """KAITO's earlier ``/query``: retrieval plus one generated answer."""

    index_name: str
    query: str = Field(min_length=1)
    top_k: int = Field(default=5, ge=1)
    llm_params: dict[str, Any] = Field(default_factory=dict)
    rerank_params: dict[str, Any] = Field(
        default_factory=dict, description="accepted for compatibility; no reranker runs"
    )


class QueryResponse(BaseModel):
    response: str | None
    source_nodes: list[NodeWithScore]
    metadata: dict[str, Any] = Field(default_factory=dict)


class Message(BaseModel):
    message: str


class HealthStatus(BaseModel):
    status: str
    detail: str | None = None
