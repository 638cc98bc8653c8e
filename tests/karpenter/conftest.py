"""Fixtures for the Karpenter tests: the CRDs (fetched once through the Go module proxy) and
clusters with auto-provisioned pools, validated as `modelsync validate` would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from controller.adapters.bundled import Bundle, load_bundle
from controller.core.documents import SourceFile
from controller.core.validation import ClusterResult, validate_files
from tests.karpenter.fetch_crds import fetch_all

Validate = Callable[[str], ClusterResult]


@pytest.fixture(scope="session")
def crds() -> Path:
    return fetch_all()


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    return load_bundle()


@pytest.fixture
def cluster_of(bundle: Bundle) -> Validate:
    """The validation result of one cluster.yaml (no Workspaces) named ``test``."""

    def run(text: str) -> ClusterResult:
        source = SourceFile("clusters/test/cluster.yaml", data=text.encode())
        report = validate_files([source], schemas=bundle.schemas, catalog=bundle.catalog)
        result = report.cluster("test")
        assert result is not None
        return result

    return run


def cluster_yaml(pool: str) -> str:
    """A cluster file around one node pool given as YAML lines (indented by 6)."""
    return (
        "apiVersion: modelsync.dev/v1alpha1\nkind: Cluster\nmetadata: {name: test}\n"
        "spec:\n  nodePools:\n" + pool
    )
