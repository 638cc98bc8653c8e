"""Running the runtime's programs as a container would: as subprocesses of this venv.

The console scripts sit next to the interpreter running the tests, so what is exercised is
the installed entry point, not an import of its ``main``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

__all__ = [
    "BIN",
    "free_port",
    "json_events",
    "log_tail",
    "run_program",
    "start_server",
    "stop_process_group",
    "wait_for_models",
    "wait_until_ready",
]

BIN = Path(sys.executable).parent


def run_program(
    name: str, args: Sequence[str], timeout: float = 240, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``modelsync-launch`` / ``modelsync-train`` to completion, capturing its output."""
    return subprocess.run(
        [str(BIN / name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=None if env is None else dict(env),
    )


def json_events(stdout: str) -> list[dict[str, Any]]:
    """Every stdout line of the trainer, each of which must be one JSON object."""
    events = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert all(isinstance(event, dict) and "event" in event for event in events)
    return events


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, lines: int = 60) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def start_server(
    name: str, args: Sequence[str], log: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a console script of this venv as a server, its output going to ``log``.

    It gets a session of its own, so ``stop_process_group`` also ends what it starts
    (vLLM's engine processes).
    """
    with log.open("ab") as sink:
        return subprocess.Popen(
            [str(BIN / name), *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=None if env is None else dict(env),
        )


def wait_until_ready(
    url: str, process: subprocess.Popen[Any], log: Path, deadline_s: float
) -> requests.Response:
    """Poll ``url`` until it answers 2xx; fail with the server log if it never does."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"server exited with {process.returncode} before it was ready:\n{log_tail(log)}"
            )
        try:
            response = requests.get(url, timeout=2)
            if response.ok:
                return response
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"server not ready after {deadline_s:.0f}s:\n{log_tail(log)}")


def wait_for_models(
    base_url: str, process: subprocess.Popen[Any], log: Path, deadline_s: float
) -> list[str]:
    """Poll ``/v1/models`` until it answers; the ids of the models it serves."""
    response = wait_until_ready(f"{base_url}/v1/models", process, log, deadline_s)
    return [model["id"] for model in response.json()["data"]]


def stop_process_group(process: subprocess.Popen[Any], timeout: float = 30) -> None:
    """Stop a server started with ``start_new_session``: SIGTERM, then SIGKILL the group."""
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    # Whatever vLLM left behind in the session the test started (engine, workers).
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=timeout)
