"""The fault suite's fixtures: one fault proxy in front of the session's control plane,
and a fresh world (namespace, Git repository, release watch) per scenario; the report is
written and printed when the session ends."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.adapters.kube import KubeClient
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.fixtures import fresh_namespace
from tests.faults import report
from tests.faults.proxy import FaultProxy
from tests.faults.world import World
from tests.support.gitfixtures import new_origin
from tests.support.gitserver import GitDaemon


@pytest.fixture(scope="session")
def fault_proxy(control_plane: ControlPlane) -> Iterator[FaultProxy]:
    with FaultProxy(control_plane.server, control_plane.dir / "pki") as proxy:
        yield proxy


@contextlib.contextmanager
def made_world(request: pytest.FixtureRequest, directory: Path) -> Iterator[World]:
    """A namespace, a served repository and a watch; every replica stopped on leaving."""
    plane: ControlPlane = request.getfixturevalue("control_plane")
    proxy: FaultProxy = request.getfixturevalue("fault_proxy")
    kube: KubeClient = request.getfixturevalue("kube")
    daemon: GitDaemon = request.getfixturevalue("git_daemon")
    origin = new_origin(request.getfixturevalue("git_server_root"), directory)
    with fresh_namespace(kube, directory.name) as namespace:
        world = World(plane, proxy, kube, namespace, origin, daemon, directory)
        try:
            yield world
        finally:
            proxy.clear()
            world.stop()
            world.watch.stop()


@pytest.fixture
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """A world of its own for one scenario."""
    with made_world(request, tmp_path) as made:
        yield made


@pytest.fixture(scope="module")
def shared_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """One world for the scenarios of a module, one after another: each starts from where
    the one before converged (a namespace and a controller start saved per scenario)."""
    with made_world(request, tmp_path_factory.mktemp(request.module.__name__)) as made:
        yield made


def pytest_sessionfinish(session: pytest.Session) -> None:
    if report.OUTCOMES:
        report.write(report.OUTCOMES)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if report.OUTCOMES:
        terminalreporter.write_sep("=", "fault suite")
        terminalreporter.write(report.markdown(report.OUTCOMES))
        terminalreporter.write_line(f"written to {report.REPORT_DIR}/report.md and report.json")
