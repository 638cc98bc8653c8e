"""Reconcile passes of the helm target without Git, for tests against any API server.

Test support, shared by tests/adapters/test_helmtarget.py (the emulated API server) and
tests/cluster/ (the local control plane). A ``Pass`` keeps a clusters repo in memory,
validates it with the real core, plans against what the target observes and applies the
plan, as one reconcile pass of the engine does.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from controller.adapters.bundled import load_bundle
from controller.adapters.charts import ChartSource
from controller.adapters.helmtarget import HelmTarget
from controller.adapters.kube import KubeConnection
from controller.core.documents import SourceFile
from controller.core.planning import (
    Action,
    DriftPolicy,
    ObservedRelease,
    PlanPolicy,
    Step,
    plan,
)
from controller.core.releases import DesiredRelease, desired_releases
from controller.core.status import ActionResult
from controller.core.validation import ClusterResult, validate_files

CHARTS = ChartSource(load_bundle().charts_dir)
COMMIT = "c0ffee" + "0" * 34
DEFAULT = PlanPolicy()
#: The emulator tests' cluster: one pool, any node.
EDGE = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: edge}
spec:
  namespaces: [default, team-a]
  nodePools:
    - {name: l4, gpu: L4, gpusPerNode: 1, nodes: 8}
"""


def inference(
    name: str,
    *,
    context: int | None = None,
    namespace: str = "default",
    preset: str = "phi-3.5-mini-instruct",
    extra: str = "",
) -> str:
    """A Workspace serving ``preset``; ``extra`` is more top-level YAML (e.g. a resource)."""
    annotations = (
        f"  annotations: {{modelsync.dev/max-model-len: '{context}'}}\n" if context else ""
    )
    return (
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\n{annotations}"
        f"resource: {{}}\ninference:\n  preset: {{name: {preset}}}\n{extra}"
    )


def tuning(name: str = "tune", *, namespace: str = "team-a") -> str:
    """A LoRA tuning Workspace of phi-3.5-mini-instruct, reading one URL, pushing one image."""
    return (
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        "resource: {}\n"
        "tuning:\n"
        "  preset: {name: phi-3.5-mini-instruct}\n"
        "  method: lora\n"
        '  input: {urls: ["https://example.com/data.parquet"]}\n'
        "  output: {image: registry.example.com/adapters/tune:1, imagePushSecret: push}\n"
    )


class Pass:
    """Workspaces of one cluster in memory, the helm target, and passes over them."""

    def __init__(
        self,
        kubeconfig: Path,
        *,
        cluster: str = "edge",
        cluster_yaml: str = EDGE,
        namespaces: Sequence[str] = ("default", "team-a"),
        timeout: float = 30.0,
    ) -> None:
        self.cluster = cluster
        self.namespaces = list(namespaces)
        self.target = HelmTarget(
            KubeConnection(kubeconfig), CHARTS, cluster, timeout=timeout, grace=2.0
        )
        self.files = {f"clusters/{cluster}/cluster.yaml": cluster_yaml}

    def put(self, name: str, text: str) -> None:
        self.files[f"clusters/{self.cluster}/{name}.yaml"] = text

    def remove(self, name: str) -> None:
        del self.files[f"clusters/{self.cluster}/{name}.yaml"]

    def validated(self) -> ClusterResult:
        """What ``validate`` says of the cluster's files."""
        bundle = load_bundle()
        sources = [SourceFile(p, data=t.encode()) for p, t in self.files.items()]
        report = validate_files(sources, schemas=bundle.schemas, catalog=bundle.catalog)
        cluster = report.cluster(self.cluster)
        assert cluster is not None
        return cluster

    def desired(self) -> list[DesiredRelease]:
        return desired_releases(self.validated(), CHARTS.versions())

    def observe(self) -> dict[str, ObservedRelease]:
        return {o.name: o for o in self.target.observe(self.namespaces)}

    def plan(self, policy: PlanPolicy = DEFAULT) -> list[Step]:
        observed = list(self.observe().values())
        drifted = self.target.drifted(observed) if policy.drift is not DriftPolicy.OFF else set()
        steps = plan(self.desired(), observed, cluster=self.cluster, policy=policy, drifted=drifted)
        return list(steps.steps)

    def run(self, policy: PlanPolicy = DEFAULT) -> dict[str, ActionResult]:
        steps = [s for s in self.plan(policy) if s.action is not Action.NONE]
        return {s.name: self.target.apply(s, COMMIT) for s in steps}


def outcome(results: dict[str, ActionResult]) -> dict[str, str]:
    return {name: f"{r.step.action}:{'ok' if r.ok else 'failed'}" for name, r in results.items()}
