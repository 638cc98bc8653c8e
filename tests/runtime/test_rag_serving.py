"""``modelsync-rag`` as the container runs it: a uvicorn process on 127.0.0.1 in front of
the tiny Llama served by ``modelsync-launch`` (real vLLM on the CPU).

A recording proxy between the two shows the request the service sent to vLLM: the tiny
model's answer is noise, so the retrieved passage is looked for in the prompt, not in
the answer. The last test persists the index, stops the service with SIGTERM, starts a
new process on the same volume and asks again.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.runtime.processes import (
    free_port,
    log_tail,
    start_server,
    stop_process_group,
    wait_for_models,
    wait_until_ready,
)
from tests.runtime.rag_corpus import DOCUMENTS
from tests.runtime.recording_proxy import Recorded, recording_proxy

# The first test's set-up starts vLLM and then the RAG service (its embedding model):
# minutes on a busy two-core machine, past the suite's 300 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

MODEL = "tiny-llama"
INDEX = "facts"
CHAT = "/v1/chat/completions"
# vLLM alone needs a minute or more on two cores, several when other suites share them.
READY_DEADLINE_S = 480


@pytest.fixture(scope="module")
def vllm(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("rag-vllm")
    port = free_port()
    config = {
        "apiVersion": "modelsync.dev/v1alpha1",
        "kind": "InferenceConfig",
        "model": str(tiny_model),
        "servedModelName": MODEL,
        "host": "127.0.0.1",
        "port": port,
        "maxModelLen": 512,  # the tiny Llama's position limit
        "maxNumSeqs": 4,
        "dtype": "float32",
        "shutdownTimeout": 0,
    }
    (root / "inference.yaml").write_text(yaml.safe_dump(config))
    log = root / "vllm.log"
    process = start_server("modelsync-launch", ["--config", str(root / "inference.yaml")], log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        assert wait_for_models(base_url, process, log, READY_DEADLINE_S) == [MODEL]
        yield base_url
    finally:
        stop_process_group(process)


@pytest.fixture(scope="module")
def proxy(vllm: str) -> Iterator[Recorded]:
    with recording_proxy(vllm) as recorded:
        yield recorded


@dataclass
class Rag:
    """The service's process (replaced on restart), its URL and its files."""

    config: Path
    log: Path
    url: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = start_server("modelsync-rag", ["--config", str(self.config)], self.log)
        wait_until_ready(f"{self.url}/health", self.process, self.log, READY_DEADLINE_S)

    def post(self, path: str, body: Any = None, **params: Any) -> Any:
        response = requests.post(f"{self.url}{path}", json=body, params=params, timeout=120)
        assert response.ok, (response.status_code, response.text, log_tail(self.log))
        return response.json()


@pytest.fixture(scope="module")
def rag(
    proxy: Recorded, embedding_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rag]:
    root = tmp_path_factory.mktemp("rag-service")
    port = free_port()
    config = {
        "apiVersion": "modelsync.dev/v1alpha1",
        "kind": "RAGConfig",
        "embeddingModel": str(embedding_model_dir),
        # KAITO's form of the endpoint: the full chat URL.
        "inferenceUrl": f"{proxy.url}/v1/chat/completions",
        "inferenceModel": MODEL,
        # Counted in the embedding tokenizer's word pieces; the tiny Llama's byte-level
        # tokens are several per piece, and its window is 512.
        "contextWindow": 256,
        "persistDir": str(root / "volume" / "indexes"),
        "host": "127.0.0.1",
        "port": port,
    }
    (root / "rag.yaml").write_text(yaml.safe_dump(config))
    service = Rag(root / "rag.yaml", root / "rag.log", f"http://127.0.0.1:{port}")
    service.start()
    try:
        body = {
            "index_name": INDEX,
            "documents": [{"text": f.text, "metadata": {"key": f.key}} for f in DOCUMENTS],
        }
        service.post("/index", body)
        yield service
    finally:
        if service.process is not None:
            stop_process_group(service.process)


QUESTION = "What was the Maren Loft transporting when it went down?"
SHIP = next(fact for fact in DOCUMENTS if fact.key == "ship")


def ask(rag: Rag, **extra: Any) -> dict[str, Any]:
    body = {
        "index_name": INDEX,
        "messages": [
            {"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": QUESTION},
        ],
        "max_tokens": 8,
        "temperature": 0,
        "top_k": 2,
        **extra,
    }
    result: dict[str, Any] = rag.post(CHAT, body)
    return result


def test_chat_puts_the_retrieved_passage_into_the_prompt(rag: Rag, proxy: Recorded) -> None:
    before = len(proxy.bodies(CHAT))
    answer = ask(rag)
    assert answer["object"] == "chat.completion"
    assert answer["model"] == MODEL
    assert answer["usage"]["completion_tokens"] > 0
    assert answer["source_nodes"][0]["metadata"]["key"] == "ship"
    assert len(answer["source_nodes"]) <= 2

    [sent] = proxy.bodies(CHAT)[before:]
    assert sent["model"] == MODEL
    assert sent["max_tokens"] == 8
    assert "index_name" not in sent
    assert "top_k" not in sent
    system, user = sent["messages"]
    assert system["role"] == "system"
    assert system["content"].startswith("You answer briefly.")
    assert SHIP.text in system["content"]
    # Only the top_k best passages: an unrelated fact stays out of the prompt.
    assert DOCUMENTS[0].text not in system["content"]
    assert user == {"role": "user", "content": QUESTION}


def test_a_request_without_an_index_goes_to_the_model_unchanged(rag: Rag, proxy: Recorded) -> None:
    messages = [{"role": "user", "content": QUESTION}]
    answer = rag.post(CHAT, {"model": MODEL, "messages": messages, "max_tokens": 4})
    assert "source_nodes" not in answer
    sent = proxy.bodies(CHAT)[-1]
    assert sent["messages"] == messages


def test_query_answers_with_its_sources(rag: Rag, proxy: Recorded) -> None:
    body = {"index_name": INDEX, "query": QUESTION, "top_k": 1, "llm_params": {"max_tokens": 4}}
    answer = rag.post("/query", body)
    assert isinstance(answer["response"], str)
    assert [node["text"] for node in answer["source_nodes"]] == [SHIP.text]
    assert SHIP.text in proxy.bodies(CHAT)[-1]["messages"][0]["content"]


def test_a_restarted_service_reloads_the_persisted_index(rag: Rag, proxy: Recorded) -> None:
    retrieve = {"index_name": INDEX, "query": QUESTION, "max_node_count": 3}
    before = rag.post("/retrieve", retrieve)["results"]
    message = rag.post(f"/persist/{INDEX}")["message"]
    assert message.endswith(f"volume/indexes/{INDEX}.")

    assert rag.process is not None
    rag.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the signal it caught, so the process
    # ends "killed by SIGTERM", as the kubelet expects of a container it stops.
    assert rag.process.wait(timeout=60) == -signal.SIGTERM, log_tail(rag.log)
    assert "Application shutdown complete." in rag.log.read_text()
    rag.start()
    assert "1 index(es) loaded from" in rag.log.read_text()

    assert requests.get(f"{rag.url}/indexes", timeout=10).json() == [INDEX]
    after = rag.post("/retrieve", retrieve)["results"]
    assert [n["node_id"] for n in after] == [n["node_id"] for n in before]
    assert [n["score"] for n in after] == pytest.approx([n["score"] for n in before])
    answer = ask(rag)
    assert answer["source_nodes"][0]["text"] == SHIP.text
    assert SHIP.text in proxy.bodies(CHAT)[-1]["messages"][0]["content"]
    # The explicit route too, replacing what start-up loaded.
    rag.post(f"/load/{INDEX}", overwrite="true")
    listed = requests.get(f"{rag.url}/indexes/{INDEX}/documents", timeout=10).json()
    assert listed["total_items"] == len(DOCUMENTS)
