"""A copy of this repository's clusters/ as a new Git repository, for the CLI's tests.

``tests/cli/conftest.py`` makes the ``repo`` fixture of it; ``commit`` and ``run`` are the
steps the tests take on it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.cli.main import main
from tests.support.gitserver import git

REPO = Path(__file__).resolve().parents[2]


def cloned_clusters(tmp_path: Path) -> Path:
    """This repository's clusters/ as the first commit of a new repository."""
    root = tmp_path / "clusters-repo"
    for path in (REPO / "clusters").rglob("*.yaml"):
        target = root / path.relative_to(REPO)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    git("init", "-q", "-b", "main", str(root))
    commit(root, "initial")
    return root


def commit(root: Path, message: str) -> str:
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", message, cwd=root)
    return git("rev-parse", "HEAD", cwd=root)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    return code, capsys.readouterr().out
