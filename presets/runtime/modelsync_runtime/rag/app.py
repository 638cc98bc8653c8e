"""The HTTP API: KAITO's RAGEngine routes on FastAPI, over an ``Engine`` and a ``Generator``.

Handlers are plain functions, so FastAPI runs them on its thread pool: embedding and
FAISS work never blocks the event loop, and the engine's lock orders what must not
interleave. Routes are added with ``add_api_route`` rather than decorators so the module
type-checks without FastAPI's stubs. Errors are ``{"detail": "..."}`` with the status the
``RagError`` carries; FastAPI's own 422 answers a body that does not fit its schema.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from modelsync_runtime.rag.engine import Engine, NewDocument, StoredDocument, check_index_name
from modelsync_runtime.rag.errors import BadRequestError, RagError
from modelsync_runtime.rag.generation import Generator, source_node
from modelsync_runtime.rag.schemas import (
    DeleteDocumentRequest,
    DeleteDocumentResponse,
    Document,
    HealthStatus,
    IndexRequest,
    ListDocumentsResponse,
    Message,
    QueryRequest,
    QueryResponse,
    RetrieveRequest,
    RetrieveResponse,
    UpdateDocumentRequest,
    UpdateDocumentResponse,
)

__all__ = ["build_app"]


def _new(document: Document) -> NewDocument:
    return NewDocument(document.text, document.metadata or {}, document.doc_id)


def _out(document: StoredDocument) -> Document:
    return Document(
        doc_id=document.doc_id,
        text=document.text,
        metadata=document.metadata,
        hash_value=document.hash_value,
        is_truncated=document.is_truncated,
    )


def _metadata_filter(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BadRequestError(f"metadata_filter is not JSON: {e.msg}") from e
    if not isinstance(value, dict):
        raise BadRequestError("metadata_filter must be a JSON object")
    return value


def build_app(engine: Engine, generator: Generator) -> Any:
    """The FastAPI application; the caller runs it (uvicorn) or tests it (TestClient)."""
    app = FastAPI(
        title="modelsync RAG service",
        version="0.1.0",
        description="KAITO RAGEngine-compatible API: LlamaIndex and FAISS over local "
        "embeddings, generation through an OpenAI-compatible model server.",
    )

    def rag_error(request: Request, error: Exception) -> JSONResponse:
        status = error.status if isinstance(error, RagError) else 500
        return JSONResponse(status_code=status, content={"detail": str(error)})

    app.add_exception_handler(RagError, rag_error)

    def health() -> HealthStatus:
        return HealthStatus(status="Healthy")

    def index_documents(request: IndexRequest) -> list[Document]:
        stored = engine.add_documents(request.index_name, [_new(d) for d in request.documents])
        return [_out(document) for document in stored]

    def list_indexes() -> list[str]:
        return engine.list_indexes()

    def list_documents(
        index_name: str,
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        offset: Annotated[int, Query(ge=0)] = 0,
        max_text_length: Annotated[int | None, Query(ge=1)] = 1000,
        metadata_filter: Annotated[str | None, Query()] = None,
    ) -> ListDocumentsResponse:
        page, total = engine.list_documents(
            index_name,
            limit=limit,
            offset=offset,
            max_text_length=max_text_length,
            metadata_filter=_metadata_filter(metadata_filter),
        )
        return ListDocumentsResponse(
            documents=[_out(d) for d in page], count=len(page), total_items=total
        )

    def update_documents(index_name: str, request: UpdateDocumentRequest) -> UpdateDocumentResponse:
        updated, unchanged, missing = engine.update_documents(
            index_name, [_new(d) for d in request.documents]
        )
        return UpdateDocumentResponse(
            updated_documents=[_out(d) for d in updated],
            unchanged_documents=[_out(d) for d in unchanged],
            not_found_documents=[_out(d) for d in missing],
        )

    def delete_documents(index_name: str, request: DeleteDocumentRequest) -> DeleteDocumentResponse:
        deleted, missing = engine.delete_documents(index_name, request.doc_ids)
        return DeleteDocumentResponse(deleted_doc_ids=deleted, not_found_doc_ids=missing)

    def delete_index(index_name: str) -> Message:
        engine.delete_index(index_name)
        return Message(message=f"Successfully deleted index {index_name}.")

    def persist_index(index_name: str, path: Annotated[str | None, Query()] = None) -> Message:
        where = engine.persist(check_index_name(index_name), path)
        return Message(message=f"Successfully persisted index {index_name} to {where}.")

    def load_index(
        index_name: str,
        path: Annotated[str | None, Query()] = None,
        overwrite: Annotated[bool, Query()] = False,
    ) -> Message:
        where = engine.load(index_name, path, overwrite=overwrite)
        return Message(message=f"Successfully loaded index {index_name} from {where}.")

    def retrieve(request: RetrieveRequest) -> RetrieveResponse:
        found = engine.retrieve(
            request.index_name, request.query, request.max_node_count, request.metadata_filter
        )
        results = [source_node(item) for item in found]
        return RetrieveResponse.model_validate(
            {"query": request.query, "results": results, "count": len(results)}
        )

    def query(request: QueryRequest) -> QueryResponse:
        answer = generator.query(
            request.index_name, request.query, request.top_k, request.llm_params
        )
        return QueryResponse.model_validate(answer)

    def chat_completions(request: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        return generator.chat(request)

    routes: list[tuple[str, str, Any, str]] = [
        ("GET", "/health", health, "Health of the service"),
        ("POST", "/index", index_documents, "Add documents to an index, creating it"),
        ("GET", "/indexes", list_indexes, "Names of the indexes in memory"),
        ("GET", "/indexes/{index_name}/documents", list_documents, "A page of documents"),
        ("POST", "/indexes/{index_name}/documents", update_documents, "Update by doc_id"),
        ("POST", "/indexes/{index_name}/documents/delete", delete_documents, "Delete by id"),
        ("DELETE", "/indexes/{index_name}", delete_index, "Drop an index from memory"),
        ("POST", "/persist/{index_name}", persist_index, "Write an index to the volume"),
        ("POST", "/load/{index_name}", load_index, "Read an index from the volume"),
        ("POST", "/retrieve", retrieve, "The nodes most similar to a query"),
        ("POST", "/query", query, "Retrieve, then answer one question"),
        ("POST", "/v1/chat/completions", chat_completions, "OpenAI chat, retrieval first"),
    ]
    for method, path, endpoint, summary in routes:
        app.add_api_route(path, endpoint, methods=[method], summary=summary)
    return app
