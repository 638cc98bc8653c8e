"""The RAG service's HTTP API in process (FastAPI's test client), with the real embedding
model, LlamaIndex and FAISS: indexing, recall on known answers, documents by id, code
splitting, persistence and the errors a client sees.

Generation needs the served model and is tested with real processes in
``test_rag_serving.py``; here the engine has no inference endpoint.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from modelsync_runtime.rag.app import build_app
from modelsync_runtime.rag.config import RagConfig, parse_rag_config
from modelsync_runtime.rag.embedding import Embedding, load_embedding
from modelsync_runtime.rag.engine import Engine, NewDocument
from modelsync_runtime.rag.generation import Generator

from tests.runtime.rag_corpus import CODE_DOCUMENT, DOCUMENTS, QUESTIONS, recall_at_k

# Loads torch and the embedding model (seconds on two cores), like the other slow tests.
pytestmark = pytest.mark.slow

FACTS = "facts"
RECALL_AT_1 = 0.9
RECALL_AT_3 = 1.0


def corpus_body(index_name: str = FACTS) -> dict[str, Any]:
    return {
        "index_name": index_name,
        "documents": [
            {"text": fact.text, "metadata": {"key": fact.key, "topic": fact.topic}}
            for fact in DOCUMENTS
        ],
    }


@pytest.fixture(scope="module")
def rag_config(embedding_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RagConfig:
    persist = tmp_path_factory.mktemp("rag-volume") / "indexes"
    document = {
        "apiVersion": "modelsync.dev/v1alpha1",
        "kind": "RAGConfig",
        "embeddingModel": str(embedding_model_dir),
        "persistDir": str(persist),
    }
    return parse_rag_config(document, {})


@pytest.fixture(scope="module")
def embedding(rag_config: RagConfig) -> Embedding:
    return load_embedding(rag_config)


@pytest.fixture(scope="module")
def client(rag_config: RagConfig, embedding: Embedding) -> Iterator[TestClient]:
    engine = Engine(rag_config, embedding)
    with TestClient(build_app(engine, Generator(rag_config, engine))) as test_client:
        response = test_client.post("/index", json=corpus_body())
        assert response.status_code == 200, response.text
        yield test_client


def keys_of(results: list[dict[str, Any]]) -> list[str]:
    return [node["metadata"]["key"] for node in results]


def test_openapi_lists_kaitos_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) >= {
        "/health",
        "/index",
        "/indexes",
        "/indexes/{index_name}",
        "/indexes/{index_name}/documents",
        "/indexes/{index_name}/documents/delete",
        "/persist/{index_name}",
        "/load/{index_name}",
        "/retrieve",
        "/query",
        "/v1/chat/completions",
    }
    assert set(paths["/indexes/{index_name}/documents"]) == {"get", "post"}
    assert client.get("/health").json() == {"status": "Healthy", "detail": None}


def test_documents_get_the_sha256_of_their_text_and_are_added_once(client: TestClient) -> None:
    again = client.post("/index", json=corpus_body()).json()
    assert [d["doc_id"] for d in again] == [
        hashlib.sha256(fact.text.encode()).hexdigest() for fact in DOCUMENTS
    ]
    assert again[0]["metadata"] == {"key": "lighthouse", "topic": "history"}
    listed = client.get(f"/indexes/{FACTS}/documents", params={"limit": 100}).json()
    assert listed["total_items"] == len(DOCUMENTS)
    assert client.get("/indexes").json() == [FACTS]


def test_retrieval_finds_the_documents_that_answer_the_questions(client: TestClient) -> None:
    ranked = []
    for question, _ in QUESTIONS:
        body = {"index_name": FACTS, "query": question, "max_node_count": 3}
        response = client.post("/retrieve", json=body).json()
        assert response["count"] == len(response["results"]) == 3
        scores = [node["score"] for node in response["results"]]
        assert scores == sorted(scores, reverse=True)
        ranked.append(keys_of(response["results"]))
    expected = [key for _, key in QUESTIONS]
    recall = {k: recall_at_k(ranked, expected, k) for k in (1, 3)}
    misses = [(q, r[:3]) for (q, key), r in zip(QUESTIONS, ranked, strict=True) if r[0] != key]
    assert recall[1] >= RECALL_AT_1, (recall, misses)
    assert recall[3] >= RECALL_AT_3, (recall, misses)


def test_a_metadata_filter_narrows_retrieval(client: TestClient) -> None:
    body = {
        "index_name": FACTS,
        "query": "How tall is the mountain?",
        "max_node_count": 5,
        "metadata_filter": {"topic": "culture"},
    }
    results = client.post("/retrieve", json=body).json()["results"]
    assert sorted(keys_of(results)) == ["festival", "language", "library"]


def test_documents_are_listed_in_pages_with_truncated_text(client: TestClient) -> None:
    url = f"/indexes/{FACTS}/documents"
    first = client.get(url, params={"limit": 5, "max_text_length": 12}).json()
    assert (first["count"], first["total_items"]) == (5, len(DOCUMENTS))
    assert first["documents"][0]["text"] == DOCUMENTS[0].text[:12]
    assert first["documents"][0]["is_truncated"] is True
    last = client.get(url, params={"limit": 5, "offset": 10}).json()
    assert [d["metadata"]["key"] for d in last["documents"]] == ["bird", "policy"]
    history = client.get(url, params={"metadata_filter": json.dumps({"topic": "history"})})
    assert [d["metadata"]["key"] for d in history.json()["documents"]] == ["lighthouse", "ship"]
    assert client.get(url, params={"metadata_filter": "{topic"}).status_code == 400
    assert client.get(url, params={"limit": 101}).status_code == 422


def test_documents_are_updated_and_deleted_by_id(client: TestClient) -> None:
    index = "edits"
    added = client.post("/index", json=corpus_body(index)).json()
    comet, ship = added[5], added[7]
    changed = {**comet, "text": "The comet Pell-Harrow was found by a telescope in Chile."}
    response = client.post(
        f"/indexes/{index}/documents",
        json={"documents": [changed, ship, {"doc_id": "nope", "text": "x"}]},
    ).json()
    assert [d["doc_id"] for d in response["updated_documents"]] == [comet["doc_id"]]
    assert [d["doc_id"] for d in response["unchanged_documents"]] == [ship["doc_id"]]
    assert [d["doc_id"] for d in response["not_found_documents"]] == ["nope"]
    body = {"index_name": index, "query": "Where was the comet found?", "max_node_count": 1}
    assert "Chile" in client.post("/retrieve", json=body).json()["results"][0]["text"]

    url = f"/indexes/{index}/documents/delete"
    deleted = client.post(url, json={"doc_ids": [comet["doc_id"], "nope"]}).json()
    assert deleted == {"deleted_doc_ids": [comet["doc_id"]], "not_found_doc_ids": ["nope"]}
    body["max_node_count"] = len(DOCUMENTS)
    remaining = client.post("/retrieve", json=body).json()["results"]
    assert comet["doc_id"] not in {node["doc_id"] for node in remaining}
    assert len(remaining) == len(DOCUMENTS) - 1
    assert client.delete(f"/indexes/{index}").status_code == 200
    assert client.get(f"/indexes/{index}/documents").status_code == 404


def test_code_is_split_at_definitions(rag_config: RagConfig, embedding: Embedding) -> None:
    engine = Engine(rag_config.model_copy(update={"code_max_chars": 160}), embedding)
    metadata = {"split_type": "code", "language": "py", "file_path": "geometry.py"}
    engine.add_documents("code", [NewDocument(CODE_DOCUMENT, metadata)])
    nodes = engine.retrieve("code", "increment a counter", 10)
    assert sorted(node.text.split("\n", 1)[0] for node in nodes) == [
        "class Counter:",
        "def hypotenuse(a: float, b: float) -> float:",
        "import math",
    ]
    # Chunks end where definitions end: each function's body is with its signature.
    for signature, body in [
        ("def circle_area", "return math.pi * radius * radius"),
        ("def hypotenuse", "return math.sqrt(a * a + b * b)"),
        ("def increment", "return self.count"),
    ]:
        assert [body in node.text for node in nodes if signature in node.text] == [True]
    assert nodes[0].text.startswith("class Counter:")
    assert nodes[0].metadata["file_path"] == "geometry.py"


def test_persist_writes_the_volume_and_load_reads_it_back(client: TestClient) -> None:
    assert client.post(f"/persist/{FACTS}").status_code == 200
    copy = client.post(f"/persist/{FACTS}", params={"path": "snapshots/facts-copy"})
    assert copy.status_code == 200, copy.text
    assert client.post(f"/load/{FACTS}").status_code == 409  # loaded already
    loaded = client.post("/load/restored", params={"path": "snapshots/facts-copy"})
    assert loaded.status_code == 200, loaded.text
    for question, _ in QUESTIONS[:4]:
        before, after = (
            client.post(
                "/retrieve", json={"index_name": name, "query": question, "max_node_count": 3}
            ).json()["results"]
            for name in (FACTS, "restored")
        )
        assert [n["node_id"] for n in after] == [n["node_id"] for n in before]
        assert [n["score"] for n in after] == pytest.approx([n["score"] for n in before])
    outside = client.post(f"/persist/{FACTS}", params={"path": "/etc/modelsync"})
    assert outside.status_code == 400
    assert "outside the persist directory" in outside.json()["detail"]


COBOL = {"text": "x", "metadata": {"split_type": "code", "language": "cobol"}}
HI = [{"role": "user", "content": "hi"}]
ERRORS: list[tuple[str, str, Any, int, str]] = [
    ("POST", "/index", {"index_name": "../x", "documents": [{"text": "a"}]}, 400, "index"),
    ("POST", "/index", {"index_name": "x", "documents": [{"text": " "}]}, 400, "no text"),
    ("POST", "/index", {"index_name": "x"}, 422, ""),
    ("POST", "/index", {"index_name": "x", "documents": [COBOL]}, 400, "language 'cobol'"),
    ("POST", "/retrieve", {"index_name": "absent", "query": "q"}, 404, "absent"),
    ("POST", "/load/absent", None, 404, "no persisted index"),
    ("GET", "/indexes/absent/documents", None, 404, "absent"),
    ("POST", "/v1/chat/completions", {"model": "m", "messages": HI}, 503, "no inference"),
    ("POST", "/v1/chat/completions", {"index_name": FACTS, "messages": HI, "stream": True}, 400,
     "stream"),
]  # fmt: skip


@pytest.mark.parametrize("case", ERRORS, ids=[f"{c[0]} {c[1]} {c[3]}" for c in ERRORS])
def test_errors_name_the_problem(client: TestClient, case: tuple[str, str, Any, int, str]) -> None:
    method, url, body, status, detail = case
    response = client.request(method, url, json=body)
    assert response.status_code == status, response.text
    assert detail in json.dumps(response.json()["detail"])
