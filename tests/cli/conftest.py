"""Fixtures of the CLI's tests."""

from __future__ import annotations

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
