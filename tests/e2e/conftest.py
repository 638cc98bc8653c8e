"""Fixtures of the e2e's offline tests: the git-server pod's scripts run here with real git."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import layout


@pytest.fixture
def published(tmp_path: Path) -> Path:
    """The seed script run as the init container runs it: ``<root>/git/clusters.git``."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    files = layout.repo_files()
    seed, root = tmp_path / "seed", tmp_path / "srv"
    for path, text in files.items():
        (seed / path).parent.mkdir(parents=True, exist_ok=True)
        (seed / path).write_text(text, encoding="utf-8")
    script = layout.seed_script(sorted(files), seed=str(seed), root=str(root))
    subprocess.run(["sh", "-c", script], check=True, capture_output=True, cwd=tmp_path)
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(published: Path) -> Iterator[str]:
    """That repository behind the pod's own git daemon command, on loopback: its URL."""
    port = free_port()
    command = layout.git_daemon_command(root=str(published), port=port)
    daemon = subprocess.Popen(
        [*command[:2], "--listen=127.0.0.1", *command[2:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"git://127.0.0.1:{port}/clusters.git"
    try:
        deadline = time.monotonic() + 10
        while True:
            probe = ["git", "ls-remote", url]
            if subprocess.run(probe, check=False, capture_output=True).returncode == 0:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"git daemon did not serve {url}")
            time.sleep(0.1)
        yield url
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)
