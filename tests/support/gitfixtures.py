"""Pytest fixtures serving Git repositories from real servers on loopback.

A plugin module: ``tests/conftest.py`` loads it with
``pytest_plugins = ["tests.support.gitfixtures"]``. The servers live for the session; each
test gets its own ``git_origin`` repository under their shared root.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitserver import (
    SSHD,
    GitDaemon,
    GitHttpServer,
    OriginRepo,
    SilentServer,
    SshServer,
)

#: The token ``git_http`` accepts as the basic-auth password (any username).
HTTP_TOKEN = "ghp_modelsyncTestToken0123456789abcdef"
_names = itertools.count()


@pytest.fixture(scope="session")
def git_server_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory every server exports; ``git_origin`` puts its bare repositories here."""
    return tmp_path_factory.mktemp("git-served")


@pytest.fixture(scope="session")
def git_daemon(git_server_root: Path) -> Iterator[GitDaemon]:
    with GitDaemon(git_server_root) as daemon:
        yield daemon


@pytest.fixture(scope="session")
def git_http(git_server_root: Path) -> Iterator[GitHttpServer]:
    with GitHttpServer(git_server_root, token=HTTP_TOKEN) as server:
        yield server


@pytest.fixture(scope="session")
def ssh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshServer]:
    if SSHD is None:
        # CI (.ci/run, as root) installs openssh-server: there a missing sshd is a broken
        # set-up, not a reason to leave host-key checking and key auth untested.
        if os.environ.get("CI"):
            pytest.fail("OpenSSH sshd is missing in CI: .ci/run installs openssh-server")
        pytest.skip("OpenSSH sshd is not installed (apt-get install openssh-server)")
    with SshServer(tmp_path_factory.mktemp("sshd")) as server:
        yield server


def new_origin(git_server_root: Path, directory: Path) -> OriginRepo:
    """A fresh served repository (``.name`` under every server), its work tree in
    ``directory``."""
    return OriginRepo(git_server_root / f"repo-{next(_names)}.git", directory / "work")


@pytest.fixture
def git_origin(git_server_root: Path, tmp_path: Path) -> OriginRepo:
    """A fresh served repository (``git_origin.name`` under every server) and its work tree."""
    return new_origin(git_server_root, tmp_path)


@pytest.fixture
def silent_server() -> Iterator[SilentServer]:
    with SilentServer() as server:
        yield server
