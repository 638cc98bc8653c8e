"""Pytest fixtures for the local control plane (envtest-like, with a scheduler and nodes).

A plugin module: ``tests/conftest.py`` loads it through ``pytest_plugins``. The control
plane starts once per test session, on its own ports and in its own temporary folder (never
the one of ``make cluster``), with fake nodes made from ``tests/cluster/clusters/lab``; each
test gets its own namespace, deleted afterwards (waiting until its pods are gone, so they
give their GPUs back before the next test).

The binary is built when the session collects a test marked ``cluster``, before any test
runs, so a cold build (minutes) is not charged to the first test's timeout. A failed build
or start fails those tests; none is skipped.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.adapters.kube import KubeClient, KubeConnection
from tests.controlplane.build import BuildError, ensure_binary
from tests.controlplane.cluster import ControlPlane, start, stop
from tests.controlplane.nodes import NodeSpec, load_cluster, node_specs

#: The clusters repo the session's nodes come from (its cluster.yaml's node pools).
LAB = Path(__file__).resolve().parents[1] / "cluster" / "clusters" / "lab" / "cluster.yaml"
POD_GONE_TIMEOUT = 60.0


_build_failure: list[BuildError] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    if any(item.get_closest_marker("cluster") for item in session.items):
        try:
            ensure_binary()
        except BuildError as e:
            _build_failure.append(e)


@contextlib.contextmanager
def running_control_plane(cluster_file: Path, directory: Path) -> Iterator[ControlPlane]:
    """A control plane with the nodes of ``cluster_file``'s pools, stopped on leaving."""
    cluster = load_cluster(cluster_file)
    with running_nodes(node_specs(cluster), directory, cluster=cluster.name) as plane:
        yield plane


@contextlib.contextmanager
def running_nodes(
    nodes: list[NodeSpec], directory: Path, *, cluster: str
) -> Iterator[ControlPlane]:
    """A control plane with exactly ``nodes``, stopped on leaving."""
    if _build_failure:
        pytest.fail(f"the local control plane cannot be built: {_build_failure[0]}")
    plane, processes = start(directory, nodes, cluster=cluster)
    print(f"\nlocal control plane up in {plane.started_seconds:.1f}s ({plane.dir})")
    try:
        yield plane
    finally:
        stop(plane)
        for process in processes:
            process.wait()


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A running control plane; ``control_plane.kubeconfig`` is an administrator's."""
    with running_control_plane(LAB, tmp_path_factory.mktemp("controlplane")) as plane:
        yield plane


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> Iterator[KubeClient]:
    """The administrator's JSON client of the control plane."""
    connection = KubeConnection(control_plane.kubeconfig)
    yield connection.client()
    connection.close()


@contextlib.contextmanager
def fresh_namespace(kube: KubeClient, stem: str) -> Iterator[str]:
    """A new namespace named after ``stem``; deleted, with everything in it, on leaving."""
    stem = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{secrets.token_hex(3)}"
    kube.create("/api/v1/namespaces", {"metadata": {"name": name}})
    yield name
    kube.request("DELETE", f"/api/v1/namespaces/{name}")
    # Its pods hold the nodes' GPUs: the next test starts once they are gone. The namespace
    # controller waits 5s before it empties a namespace (for other API servers to see the
    # deletion), so the pods are deleted here; a terminating namespace gets no new ones.
    kube.request("DELETE", f"/api/v1/namespaces/{name}/pods", query={"gracePeriodSeconds": "0"})
    deadline = time.monotonic() + POD_GONE_TIMEOUT
    while kube.list(f"/api/v1/namespaces/{name}/pods"):
        if time.monotonic() > deadline:
            pytest.fail(f"pods of namespace {name} still there {POD_GONE_TIMEOUT:.0f}s on")
        time.sleep(0.1)


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kube: KubeClient) -> Iterator[str]:
    """A fresh namespace named after the test; deleted, with everything in it, afterwards."""
    with fresh_namespace(kube, request.node.name) as name:
        yield name
