"""Fixtures for the pure core: the shipped schemas and catalog, and in-memory repos."""

from __future__ import annotations

import textwrap
from collections.abc import Callable

import pytest

from controller.adapters.bundled import Bundle, load_bundle
from controller.core.chartpolicy import ChartPolicy
from controller.core.documents import SourceFile
from controller.core.validation import Report, validate_files

CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: test}
spec:
  namespaces: [default, team-a]
  nodePools:
    - name: a100
      gpu: A100-80GB
      gpusPerNode: 1
      maxNodes: 2
      instanceType: Standard_NC24ads_A100_v4
      labels: {agentpool: a100}
    - name: h100
      gpu: H100-80GB
      gpusPerNode: 8
      nodes: 1
      instanceType: Standard_ND96isr_H100_v5
      labels: {agentpool: h100}
      taints: [{key: sku, value: h100, effect: NoSchedule}]
    - name: a10
      gpu: A10
      gpusPerNode: 1
      nodes: 1
"""

Validate = Callable[..., Report]


@pytest.fixture(scope="session")
def bundle() -> Bundle:
    return load_bundle()


@pytest.fixture
def validate(bundle: Bundle) -> Validate:
    """Validate ``{path: yaml}``; a cluster.yaml at clusters/test/ is added unless given."""

    def run(
        files: dict[str, str],
        *,
        cluster: str | None = None,
        with_cluster: bool = True,
        policy: ChartPolicy | None = None,
    ) -> Report:
        sources = {path: textwrap.dedent(text) for path, text in files.items()}
        if with_cluster:
            sources.setdefault("clusters/test/cluster.yaml", CLUSTER)
        return validate_files(
            [SourceFile(path, data=text.encode()) for path, text in sources.items()],
            schemas=bundle.schemas,
            catalog=bundle.catalog,
            cluster=cluster,
            policy=policy,
        )

    return run


def workspace(body: str, *, name: str = "ws", namespace: str | None = None) -> str:
    """A Workspace document with ``body`` (KAITO top-level fields) under standard metadata."""
    meta = f"metadata:\n  name: {name}\n" + (f"  namespace: {namespace}\n" if namespace else "")
    return "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n" + meta + textwrap.dedent(body)
