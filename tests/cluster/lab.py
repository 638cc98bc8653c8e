"""The lab cluster of tests/cluster: its cluster file for one test's namespace, and reading
what the real controllers and the scheduler made of a release.

Test support for tests/cluster. The session's fake nodes come from
``clusters/lab/cluster.yaml`` (tests/controlplane/fixtures.py); each test validates its
Workspaces against a copy of that file naming only its own namespace, so its passes never
see another test's releases.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from controller.adapters.kube import JSON, KubeClient
from tests.controlplane.cluster import ControlPlane
from tests.support.helmpass import Pass
from tests.support.waiting import wait_for

LAB = Path(__file__).resolve().parent / "clusters" / "lab" / "cluster.yaml"
#: The real controllers, scheduler and fake kubelet take well under a second a step here;
#: the margin is for a loaded two-core machine.
SETTLE_TIMEOUT = 60.0


def lab_cluster(namespace: str, *, nodes: dict[str, int] | None = None) -> str:
    """The lab cluster file for one namespace; ``nodes`` overrides pools' node counts (what
    Git says the cluster has, which the live nodes need not match)."""
    body: dict[str, Any] = yaml.safe_load(LAB.read_text())
    body["spec"]["namespaces"] = [namespace]
    body["spec"]["defaults"] = {"namespace": namespace}
    for pool in body["spec"]["nodePools"]:
        if nodes and pool["name"] in nodes:
            pool["nodes"] = nodes[pool["name"]]
    return yaml.safe_dump(body, sort_keys=False)


def lab_pass(
    plane: ControlPlane,
    namespace: str,
    *,
    nodes: dict[str, int] | None = None,
    kubeconfig: Path | None = None,
) -> Pass:
    """A pass over the lab cluster's Workspaces in ``namespace``, as the administrator
    unless another ``kubeconfig`` is given."""
    return Pass(
        kubeconfig or plane.kubeconfig,
        cluster="lab",
        cluster_yaml=lab_cluster(namespace, nodes=nodes),
        namespaces=[namespace],
    )


def pods(kube: KubeClient, namespace: str, release: str) -> list[JSON]:
    """The release's pods (the charts label them with the release as instance)."""
    return kube.list(
        f"/api/v1/namespaces/{namespace}/pods",
        label_selector=f"app.kubernetes.io/instance={release}",
    )


def condition(obj: JSON, kind: str) -> JSON:
    """The status condition of type ``kind`` ({} when there is none)."""
    found = [c for c in obj.get("status", {}).get("conditions") or [] if c.get("type") == kind]
    return found[0] if found else {}


def ready(pod: JSON) -> bool:
    return bool(condition(pod, "Ready").get("status") == "True")


def unschedulable(pod: JSON) -> str:
    """The scheduler's message when it found no node for ``pod``, else ""."""
    scheduled = condition(pod, "PodScheduled")
    if scheduled.get("status") == "False" and scheduled.get("reason") == "Unschedulable":
        return str(scheduled.get("message") or "")
    return ""


def node(kube: KubeClient, pod: JSON) -> JSON:
    return kube.get(f"/api/v1/nodes/{pod['spec']['nodeName']}")


def gpus(pod: JSON) -> str:
    """The ``nvidia.com/gpu`` limit of the pod's server or trainer (the tuning chart's
    trainer is an init container, so that the adapter is pushed only after it succeeded)."""
    containers = [*pod["spec"].get("initContainers", []), *pod["spec"]["containers"]]
    limits = [c.get("resources", {}).get("limits", {}) for c in containers]
    return str(next((x["nvidia.com/gpu"] for x in limits if "nvidia.com/gpu" in x), "0"))


def settled(predicate: Callable[[], object], timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait for the cluster to reach what ``predicate`` describes (see tests.support.waiting)."""
    wait_for(predicate, timeout=timeout, every=0.1)


def install_crd(kube: KubeClient, path: Path) -> None:
    """Create the CRD in ``path`` unless the session's API server has it, and wait until it
    is Established (its resource is served)."""
    crd = yaml.safe_load(path.read_text())
    name = str(crd["metadata"]["name"])
    existing = kube.list("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    if all(c["metadata"]["name"] != name for c in existing):
        kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd)

    def established() -> bool:
        got = kube.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conditions = (got.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    settled(established)
