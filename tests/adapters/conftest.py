"""The helm target's test world: Workspaces in memory, the real Helm SDK on the emulator.

Shared by ``test_helmtarget.py`` and ``test_helmtarget_recovery.py``: each test validates a
few Workspaces with the real core, plans against what the target observes and applies the
plan, as one reconcile pass does (without Git; the engine tests add that), then looks at
the release records and objects in the emulator.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Iterator

import helm_python as helm
import pytest

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
from controller.core.validation import validate_files
from tests.support.kubeapi import KubeApi

CHARTS = ChartSource(load_bundle().charts_dir)
COMMIT = "c0ffee" + "0" * 34
DEFAULT = PlanPolicy()
CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: edge}
spec:
  namespaces: [default, team-a]
  nodePools:
    - {name: l4, gpu: L4, gpusPerNode: 1, nodes: 8}
"""
TUNING = """\
apiVersion: kaito.sh/v1beta1
kind: Workspace
metadata: {name: tune, namespace: team-a}
resource: {}
tuning:
  preset: {name: phi-3.5-mini-instruct}
  method: lora
  input: {urls: ["https://example.com/data.parquet"]}
  output: {image: registry.example.com/adapters/tune:1, imagePushSecret: push}
"""


def inference(name: str, *, context: int | None = None, namespace: str = "default") -> str:
    annotations = (
        f"  annotations: {{modelsync.dev/max-model-len: '{context}'}}\n" if context else ""
    )
    return (
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        f"metadata:\n  name: {name}\n  namespace: {namespace}\n{annotations}"
        "resource: {}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n"
    )


class Pass:
    """Workspaces in memory, the helm target on the emulator, and passes over them."""

    def __init__(self, kube_api: KubeApi, *, timeout: float = 30.0) -> None:
        self.api = kube_api
        self.target = HelmTarget(
            KubeConnection(kube_api.kubeconfig_path), CHARTS, "edge", timeout=timeout, grace=2.0
        )
        self.files = {"clusters/edge/cluster.yaml": CLUSTER}

    def put(self, name: str, text: str) -> None:
        self.files[f"clusters/edge/{name}.yaml"] = text

    def remove(self, name: str) -> None:
        del self.files[f"clusters/edge/{name}.yaml"]

    def desired(self) -> list[DesiredRelease]:
        bundle = load_bundle()
        sources = [SourceFile(p, data=t.encode()) for p, t in self.files.items()]
        report = validate_files(sources, schemas=bundle.schemas, catalog=bundle.catalog)
        cluster = report.cluster("edge")
        assert cluster is not None
        return desired_releases(cluster, CHARTS.versions())

    def observe(self) -> dict[str, ObservedRelease]:
        return {o.name: o for o in self.target.observe(["default", "team-a"])}

    def plan(self, policy: PlanPolicy = DEFAULT) -> list[Step]:
        observed = list(self.observe().values())
        drifted = self.target.drifted(observed) if policy.drift is not DriftPolicy.OFF else set()
        steps = plan(self.desired(), observed, cluster="edge", policy=policy, drifted=drifted)
        return list(steps.steps)

    def run(self, policy: PlanPolicy = DEFAULT) -> dict[str, ActionResult]:
        steps = [s for s in self.plan(policy) if s.action is not Action.NONE]
        return {s.name: self.target.apply(s, COMMIT) for s in steps}


@pytest.fixture
def world(kube_api: KubeApi) -> Iterator[Pass]:
    world = Pass(kube_api)
    world.put("alpha", inference("alpha"))
    world.put("beta", inference("beta"))
    yield world
    world.target.close()


def outcome(results: dict[str, ActionResult]) -> dict[str, str]:
    return {name: f"{r.step.action}:{'ok' if r.ok else 'failed'}" for name, r in results.items()}


def helm_config(kube_api: KubeApi, namespace: str = "default") -> helm.Config:
    return helm.Config(kubeconfig_path=kube_api.kubeconfig_path, namespace=namespace)


def records(kube_api: KubeApi, release: str, namespace: str = "default") -> list[tuple[str, str]]:
    """(revision, status) of each stored release record, oldest first."""
    labels = [
        s["metadata"]["labels"]
        for s in kube_api.objects("v1/secrets", namespace)
        if s.get("type") == "helm.sh/release.v1" and s["metadata"]["labels"]["name"] == release
    ]
    return sorted(((x["version"], x["status"]) for x in labels), key=lambda r: int(r[0]))


def stick(
    kube_api: KubeApi, release: str, status: str = "pending-upgrade", *, new_revision: bool = True
) -> None:
    """Leave a new revision in `status`, as an upgrade killed halfway would; without
    ``new_revision``, set the latest revision's status, as a killed install would."""
    latest = max(
        (
            s
            for s in kube_api.objects("v1/secrets", "default")
            if s.get("type") == "helm.sh/release.v1" and s["metadata"]["labels"]["name"] == release
        ),
        key=lambda s: int(s["metadata"]["labels"]["version"]),
    )
    body = json.loads(
        gzip.decompress(base64.b64decode(base64.b64decode(latest["data"]["release"])))
    )
    revision = body["version"] + (1 if new_revision else 0)
    body["version"] = revision
    body["info"]["status"] = status
    stuck = copy.deepcopy(latest)
    stuck["metadata"] = {
        "name": f"sh.helm.release.v1.{release}.v{revision}",
        "namespace": "default",
        "labels": latest["metadata"]["labels"] | {"status": status, "version": str(revision)},
    }
    encoded = base64.b64encode(gzip.compress(json.dumps(body).encode()))
    stuck["data"] = {"release": base64.b64encode(encoded).decode()}
    kube_api.put(stuck)
