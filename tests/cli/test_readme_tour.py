"""README's 60-second tour runs exactly as written, in a fresh copy of this repository.

Every ``console`` block of the tour is replayed in order: each ``$`` line (with its
here-document, if it has one) runs in bash in a new Git repository holding this repository's
``clusters/``, with ``modelsync`` on PATH, and what it prints must be what the README shows,
commit ids and timings aside. A command shown without output is only run. So the README can
neither drift from the product nor rely on an edit it does not show.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
_VOLATILE = [
    (re.compile(r"\b[0-9a-f]{12}\b"), "<commit>"),
    (re.compile(r"\b\d+\.\d\ds\)"), "<seconds>)"),
]


@dataclass(frozen=True)
class Step:
    command: str
    expected: list[str]


def tour_steps(readme: str) -> list[Step]:
    """The tour's commands and the output shown under each, in order."""
    tour = readme.split("## A 60-second tour", 1)[1].split("\n## ", 1)[0]
    steps: list[Step] = []
    for block in re.findall(r"```console\n(.*?)```", tour, flags=re.DOTALL):
        lines = block.splitlines()
        while lines:
            line = lines.pop(0)
            assert line.startswith("$ "), f"output before any command: {line!r}"
            command = line[2:]
            heredoc = re.search(r"<<'(\w+)'", command)
            if heredoc:
                body = []
                while (text := lines.pop(0)) != heredoc.group(1):
                    body.append(text)
                command = "\n".join([command, *body, heredoc.group(1)])
            expected = []
            while lines and not lines[0].startswith("$ "):
                expected.append(lines.pop(0))
            steps.append(Step(command, expected))
    return steps


def normalized(lines: list[str]) -> list[str]:
    out = []
    for line in lines:
        text = line
        for pattern, replacement in _VOLATILE:
            text = pattern.sub(replacement, text)
        out.append(text.rstrip())
    return out


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """What a reader has after `git clone`: every file Git tracks here (presets/ beside
    clusters/ included, which the CLI loads), committed; nothing ignored (no out/, no .venv:
    PATH below stands in for `source .venv/bin/activate`)."""
    root = tmp_path / "modelsync"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        source = REPO / name
        if source.is_file() and not source.is_symlink():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=Reader", "-c", "user.email=reader@example.com", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *args], cwd=root, check=True)
    return root


def test_the_tour_runs_as_written(clone: Path) -> None:
    steps = tour_steps((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(steps) >= 10, "the tour lost its console blocks"
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "GIT_AUTHOR_NAME": "Reader",
        "GIT_AUTHOR_EMAIL": "reader@example.com",
        "GIT_COMMITTER_NAME": "Reader",
        "GIT_COMMITTER_EMAIL": "reader@example.com",
        "COLUMNS": "160",
    }
    for step in steps:
        done = subprocess.run(
            ["bash", "-c", step.command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if not step.expected:
            assert done.returncode == 0, (step.command, done.stdout, done.stderr)
            continue
        shown = normalized(step.expected)
        printed = normalized(done.stdout.splitlines())
        assert printed == shown, f"$ {step.command}\nstderr: {done.stderr}"
