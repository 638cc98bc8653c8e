"""Fixtures of the CLI's tests."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.cli.clonedrepo import cloned_clusters


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of this repository's clusters/ as the first commit of a new repository, and
    the working directory of the test."""
    root = cloned_clusters(tmp_path)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on: connecting to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
