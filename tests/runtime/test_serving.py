"""``modelsync-launch`` serves the tiny Llama and the adapter the trainer made, with real
vLLM on the CPU, and the official ``openai`` client talks to it.

One server for the module: it takes about half a minute to start on two cores. The last
test stops it with SIGTERM, as the kubelet would.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest
import requests
import yaml

from tests.runtime.processes import (
    free_port,
    log_tail,
    start_server,
    stop_process_group,
    wait_for_models,
)
from tests.runtime.training import TrainerRun

pytestmark = pytest.mark.slow

BASE = "tiny-llama"
ADAPTER = "qa-lora"
READY_DEADLINE_S = 240


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path
    models_at_start: list[str]

    def client(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def server(
    tiny_model: Path, trained_adapter: TrainerRun, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("serving")
    adapters = root / "adapters"
    # What the chart's init container leaves: the adapter's files in <adaptersDir>/<name>.
    (adapters / ADAPTER).mkdir(parents=True)
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copy(trained_adapter.output_dir / name, adapters / ADAPTER / name)
    (adapters / "lost+found").mkdir()
    port = free_port()
    config = {
        "apiVersion": "modelsync.dev/v1alpha1",
        "kind": "InferenceConfig",
        "model": str(tiny_model),
        "servedModelName": BASE,
        "host": "127.0.0.1",
        "port": port,
        "maxModelLen": 256,
        "maxNumSeqs": 4,
        "dtype": "float32",
        "adaptersDir": str(adapters),
        "shutdownTimeout": 20,
    }
    (root / "inference.yaml").write_text(yaml.safe_dump(config))
    log = root / "server.log"
    process = start_server("modelsync-launch", ["--config", str(root / "inference.yaml")], log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        models = wait_for_models(base_url, process, log, READY_DEADLINE_S)
        yield Server(process, base_url, log, models)
    finally:
        stop_process_group(process)


def test_the_launcher_execs_vllm_in_its_own_process(server: Server) -> None:
    first_line = server.log.read_text().splitlines()[0]
    assert first_line.startswith("modelsync-launch: starting vLLM (adapters: qa-lora)")
    # exec: the API server logs under the very pid the launcher was started with.
    assert f"(APIServer pid={server.process.pid})" in server.log.read_text()


def test_the_client_lists_the_base_model_and_the_adapter(server: Server) -> None:
    models = {model.id: model for model in server.client().models.list()}
    assert set(models) == {BASE, ADAPTER}
    assert server.models_at_start == [BASE, ADAPTER]
    assert (models[ADAPTER].model_extra or {}).get("parent") == BASE


@pytest.fixture(scope="module")
def answers(server: Server) -> dict[str, str]:
    client = server.client()
    replies = {}
    for model in (BASE, ADAPTER):
        completion = client.chat.completions.create(
            model=model,
            messages=[
                {"role": "system", "content": "answer briefly."},
                {"role": "user", "content": "what is the capital of france?"},
            ],
            max_tokens=8,
            temperature=0,
        )
        assert completion.model == model
        assert completion.usage is not None
        assert completion.usage.completion_tokens > 0
        replies[model] = completion.choices[0].message.content or ""
    return replies


def test_each_model_answers_a_chat_completion(answers: dict[str, str]) -> None:
    assert set(answers) == {BASE, ADAPTER}


def test_the_adapter_changes_what_the_model_says(answers: dict[str, str]) -> None:
    # Greedy decoding: the random base model babbles; the adapter learned the QA pairs.
    assert answers[ADAPTER] != answers[BASE]
    assert answers[ADAPTER].strip().startswith("paris"), answers


def test_metrics_expose_vllm_series(server: Server, answers: dict[str, str]) -> None:
    text = requests.get(f"{server.base_url}/metrics", timeout=10).text
    series = {
        line.split("{")[0].split(" ")[0] for line in text.splitlines() if line.startswith("vllm:")
    }
    assert {"vllm:num_requests_running", "vllm:num_requests_waiting"} <= series
    # One series per finish reason; adapter requests count under the base model's name.
    finished = re.findall(
        rf'^vllm:request_success_total{{[^}}]*model_name="{BASE}"[^}}]*}} (\S+)$', text, re.M
    )
    assert sum(float(value) for value in finished) >= len(answers), finished


def test_sigterm_drains_in_flight_requests_and_exits(server: Server) -> None:
    streamed: list[str] = []
    usage: list[int] = []
    failures: list[BaseException] = []
    first_token = threading.Event()

    def stream() -> None:
        try:
            chunks = server.client().completions.create(
                model=BASE,
                prompt="hello",
                max_tokens=96,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
                extra_body={"ignore_eos": True},
            )
            for chunk in chunks:
                streamed.extend(choice.text for choice in chunk.choices)
                if chunk.usage is not None:
                    usage.append(chunk.usage.completion_tokens)
                first_token.set()
        except BaseException as e:  # the assertion below reports it
            failures.append(e)
        finally:
            first_token.set()

    worker = threading.Thread(target=stream)
    worker.start()
    assert first_token.wait(timeout=60)
    began = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=60)
    stopped_after = time.monotonic() - began
    worker.join(timeout=30)
    assert not failures, failures
    assert code == 0, log_tail(server.log)
    # The request that was running when SIGTERM came was finished, not cut off.
    assert usage == [96], (usage, len(streamed))
    assert stopped_after < 30
    log = server.log.read_text()
    assert "mode=drain" in log
