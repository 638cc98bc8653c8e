"""Pytest fixtures for an emulated Kubernetes API server on loopback.

A plugin module: ``tests/conftest.py`` loads it through ``pytest_plugins``. Each test gets
its own server (it starts in milliseconds; the discovery and OpenAPI documents are built
once per process) and a kubeconfig pointing at it. A test fails at teardown when the
emulator itself crashed while serving, so an emulator bug never passes as an API error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kubeapi import KubeApi


@pytest.fixture
def kube_api(tmp_path: Path) -> Iterator[KubeApi]:
    """A running emulated API server; `kube_api.kubeconfig_path` points clients at it."""
    api = KubeApi(tmp_path / "kubeconfig").start()
    try:
        yield api
        crashes = api.server_errors()
    finally:
        api.stop()
    if crashes:
        pytest.fail(f"the emulated API server crashed while serving: {crashes!r}")
