"""The engine's test world: a served clusters repo, a Syncer with the helm target, a clock.

Shared by the pass tests (``test_sync_helm.py``, ``test_sync_prune.py``): each commits to a
served repository and runs passes of a Syncer whose source is pygit2 against ``git daemon``
and whose target is the helm target, the real Helm SDK talking to ``kube_api`` on loopback.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.adapters.bundled import load_bundle
from controller.adapters.charts import ChartSource
from controller.adapters.gitsource import GitRef, GitSource
from controller.adapters.helmtarget import HelmTarget
from controller.adapters.kube import KubeConnection, ObjectRef
from controller.adapters.kubeevents import EventRecorder
from controller.core.planning import PlanPolicy
from controller.core.ports import Target
from controller.engine.sync import PassResult, Syncer
from tests.support.gitserver import GitDaemon, OriginRepo
from tests.support.kubeapi import KubeApi

CHARTS = ChartSource(load_bundle().charts_dir)
CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: edge}
spec:
  nodePools:
    - {name: l4, gpu: L4, gpusPerNode: 1, nodes: 64}
"""
NAMES = ("alpha", "beta", "gamma", "delta")


def workspace(name: str, *, context: int | None = None) -> str:
    annotations = (
        f"  annotations: {{modelsync.dev/max-model-len: '{context}'}}\n" if context else ""
    )
    return (
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        f"metadata:\n  name: {name}\n{annotations}"
        "resource: {}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n"
    )


class World:
    """A served clusters repo, a Syncer with the helm target, and a clock it runs on."""

    def __init__(self, origin: OriginRepo, daemon: GitDaemon, kube_api: KubeApi, tmp: Path) -> None:
        self.origin, self.api = origin, kube_api
        origin.write("clusters/edge/cluster.yaml", CLUSTER)
        for name in NAMES:
            origin.write(f"clusters/edge/{name}.yaml", workspace(name))
        origin.commit("initial")
        self.source = GitSource(daemon.url(origin.name), GitRef(branch="main"), tmp / "cache")
        self.now = time.time()
        self.target = self.new_target()
        self.syncer = self.new_syncer(PlanPolicy())
        self.events = EventRecorder(
            self.target.connection.client(),
            fallback=ObjectRef("v1", "ConfigMap", "modelsync-config", "modelsync"),
            instance="modelsync-0",
            regarding=self.target.regarding,
        )

    def new_target(self) -> HelmTarget:
        return HelmTarget(KubeConnection(self.api.kubeconfig_path), CHARTS, "edge", timeout=30)

    def new_syncer(self, policy: PlanPolicy, target: Target | None = None) -> Syncer:
        bundle = load_bundle()
        return Syncer(
            source=self.source,
            target=target or self.target,
            schemas=bundle.schemas,
            catalog=bundle.catalog,
            charts=CHARTS,
            cluster="edge",
            policy=policy,
            clock=lambda: self.now,
        )

    def run(self, *, full: bool = False) -> PassResult:
        result = self.syncer.run_pass(full=full)
        self.events.record(result.events)
        return result

    def releases(self) -> dict[str, tuple[int, str]]:
        observed = self.target.observe(["default"])
        return {o.name: (o.revision, o.status) for o in observed}


@pytest.fixture
def world(
    git_origin: OriginRepo, git_daemon: GitDaemon, kube_api: KubeApi, tmp_path: Path
) -> Iterator[World]:
    world = World(git_origin, git_daemon, kube_api, tmp_path)
    yield world
    world.target.close()


def actions(result: PassResult) -> dict[str, str]:
    return {r.step.name: f"{r.step.action}:{'ok' if r.ok else 'failed'}" for r in result.results}
