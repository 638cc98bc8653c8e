"""The fault suite's fixtures: one fault proxy in front of the session's control plane,
and a fresh world (namespace, Git repository, release watch) per scenario; the report is
written and printed when the session ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.adapters.kube import KubeClient
from tests.controlplane.cluster import ControlPlane
from tests.faults import report
from tests.faults.proxy import FaultProxy
from tests.faults.world import World
from tests.support.gitserver import GitDaemon, OriginRepo


@pytest.fixture(scope="session")
def fault_proxy(control_plane: ControlPlane) -> Iterator[FaultProxy]:
    with FaultProxy(control_plane.server, control_plane.dir / "pki") as proxy:
        yield proxy


@pytest.fixture
def world(
    *,
    control_plane: ControlPlane,
    fault_proxy: FaultProxy,
    kube: KubeClient,
    namespace: str,
    git_origin: OriginRepo,
    git_daemon: GitDaemon,
    tmp_path: Path,
) -> Iterator[World]:
    made = World(control_plane, fault_proxy, kube, namespace, git_origin, git_daemon, tmp_path)
    try:
        yield made
    finally:
        fault_proxy.clear()
        made.stop()
        made.watch.stop()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if report.OUTCOMES:
        report.write(report.OUTCOMES)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if report.OUTCOMES:
        terminalreporter.write_sep("=", "fault suite")
        terminalreporter.write(report.markdown(report.OUTCOMES))
        terminalreporter.write_line(f"written to {report.REPORT_DIR}/report.md and report.json")
