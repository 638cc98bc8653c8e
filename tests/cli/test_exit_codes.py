"""Exit codes that never let CI pass on a typo, did-you-mean on usage errors, a quiet exit
141 for every command whose reader leaves early, and ``--version`` asking a running
controller (a real one, served on 127.0.0.1) for its own version."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller import __version__
from controller.cli.main import main
from tests.cli.clonedrepo import cloned_clusters
from tests.support.controllerhttp import Running, seed, serving
from tests.support.gitserver import GitDaemon, OriginRepo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This repository's clusters/ committed, and dev synced into out/."""
    root = cloned_clusters(tmp_path)
    monkeypatch.chdir(root)
    assert main(["sync", "--repo", ".", "--cluster", "dev", "--out", "out"]) == 0
    return root


def usage_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """argparse's exit: code 2, nothing on stdout; returns what it said on stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    return err


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["valdate"], "did you mean 'validate'?"),
        (["presets", "shw", "x"], "did you mean 'show'?"),
        (["validate", "--clustr", "prod"], "did you mean '--cluster'?"),
        (["diff", "--base", "HEAD", "--no-manifets"], "did you mean '--no-manifests'?"),
        (["status", "--out", "out", "-o", "jsn"], "did you mean 'json'?"),
        (["validate", "--format", "githb"], "did you mean 'github'?"),
        (["completion", "fsh"], "did you mean 'fish'?"),
    ],
)
def test_typos_are_usage_errors_with_a_suggestion(
    repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], hint: str
) -> None:
    assert hint in usage_error(capsys, *args)


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert "required: COMMAND" in usage_error(capsys)
    assert "goes with --version" in usage_error(capsys, "--url", "http://x", "validate")


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "--cluster", "prd"],
        ["diff", "--base", "HEAD", "--cluster", "prd"],
        ["status", "--out", "out", "--cluster", "prd"],
        ["sync", "--repo", ".", "--cluster", "prd", "--out", "out"],
    ],
)
def test_an_unknown_cluster_exits_2(
    repo: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert "PASS" not in out
    assert "no release changes" not in out
    assert "prd" in out + err


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "nowhere"],
        ["validate", "empty"],
        ["diff", "--base", "HEAD", "--path", "empty"],
        ["status", "--out", "empty"],
    ],
)
def test_nothing_to_work_on_exits_2(
    repo: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    (repo / "empty").mkdir()
    assert main(args) == 2
    assert "no release changes" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["validate", "--format", "github"],
        ["validate", "-o", "yaml"],
        ["diff", "--base", "HEAD", "--head", "HEAD"],
        ["sync", "--repo", ".", "--cluster", "prod", "--out", "out2", "--dry-run"],
        ["status", "--out", "out"],
        ["status", "--out", "out", "-o", "json"],
        ["render", "clusters/dev/phi-4-mini.yaml"],
        ["presets", "list"],
        ["presets", "show", "phi-4-mini-instruct"],
        ["presets", "sizing-table"],
        ["completion", "bash"],
        ["--version"],
    ],
)
def test_a_reader_that_leaves_at_once_gets_141_and_no_traceback(
    repo: Path, args: list[str]
) -> None:
    # `modelsync ... | head -1` at its harshest: the pipe is closed before the first write.
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "controller", *args],
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        os.close(write)
    assert done.stderr == ""
    assert done.returncode == 128 + signal.SIGPIPE


@pytest.fixture
def controller(git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path) -> Iterator[Running]:
    with serving(seed(git_origin), git_daemon, tmp_path) as running:
        yield running


def test_version_with_url_asks_the_running_controller(
    controller: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"modelsync {__version__}\n"
    assert main(["--version", "--url", controller.url]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"modelsync {__version__}",
        f"controller {__version__} (cluster edge)",
    ]
    assert main(["status", "--url", controller.url, "--cluster", "edg"]) == 2
    assert "did you mean 'edge'?" in capsys.readouterr().err


def test_version_with_an_unreachable_url_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["--version", "--url", "http://127.0.0.1:9"]) == 2
    out, err = capsys.readouterr()
    assert out == f"modelsync {__version__}\n"
    assert "cannot ask the controller" in err
