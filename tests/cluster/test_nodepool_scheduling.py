"""The real scheduler on a node shaped from a rendered Karpenter NodePool: what modelsync
places on clusters/prod's auto-provisioned pool runs there, and what the NodePool's
requirements cannot satisfy stays Pending.

Karpenter is not run here; the node stands in for the one it would launch for the NodePool
(tests/controlplane/nodes.py ``node_from_nodepool``: the labels its ``In`` requirements and
template give, its taints, the instance type's GPUs, CPUs and memory). The control plane
holds that node only, so a pod that runs, runs on it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.adapters.bundled import load_bundle
from controller.adapters.kube import KubeClient, KubeConnection
from controller.core.karpenter import unsatisfiable
from controller.core.nodepools import node_pool_manifests
from tests.cluster.generated import REPO, cluster_file
from tests.cluster.lab import node, pods, ready, settled, unschedulable
from tests.controlplane.fixtures import running_nodes
from tests.controlplane.nodes import POOL_LABEL, load_cluster, node_from_nodepool
from tests.support.helmpass import Pass

pytestmark = pytest.mark.cluster

NAMESPACE = "burst"
POOL = "h100-nvl"
WORKSPACE = REPO / "clusters" / "prod" / "qwen-coder-32b-burst.yaml"


def nodepool_node() -> tuple[dict[str, Any], Any]:
    """prod's rendered NodePool for the pool, and the node it would launch."""
    cluster = load_cluster(REPO / "clusters" / "prod" / "cluster.yaml")
    catalog = load_bundle().catalog
    [nodepool] = [
        m
        for m in node_pool_manifests(cluster, catalog)
        if m["kind"] == "NodePool" and m["metadata"]["name"] == POOL
    ]
    pool = cluster.pool(POOL)
    assert pool is not None
    instance = catalog.instance_type(pool.instance_type or "")
    assert instance is not None
    return nodepool, node_from_nodepool(f"prod-{POOL}-karpenter-0", nodepool, instance)


def gpu_pod(name: str, *, gpus: int, selector: dict[str, str], tolerate: bool) -> dict[str, Any]:
    """A bare GPU pod, as a server's would be, with the pool's nodeSelector."""
    tolerations = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    if tolerate:
        tolerations.append(
            {"key": "modelsync.dev/burst", "operator": "Equal", "value": "true",
             "effect": "NoSchedule"}
        )  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": selector,
            "tolerations": tolerations,
            "containers": [
                {
                    "name": "server",
                    "image": "registry.invalid/server:1",
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                }
            ],
        },
    }


def pending_for(kube: KubeClient, name: str) -> str:
    pod = kube.get(f"/api/v1/namespaces/{NAMESPACE}/pods/{name}")
    return unschedulable(pod)


def test_a_workspace_on_the_auto_provisioned_pool_schedules_onto_its_nodepools_node(
    tmp_path: Path,
) -> None:
    nodepool, spec = nodepool_node()
    assert spec["labels"]["node.kubernetes.io/instance-type"] == "Standard_NC80adis_H100_v5"
    assert spec["labels"]["karpenter.sh/capacity-type"] == "on-demand"
    assert spec["taints"] == [
        {"key": "modelsync.dev/burst", "value": "true", "effect": "NoSchedule"}
    ]
    with running_nodes([spec], tmp_path / "controlplane", cluster="prod") as plane:
        connection = KubeConnection(plane.kubeconfig)
        kube = connection.client()
        kube.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        world = Pass(
            plane.kubeconfig,
            cluster="prod",
            cluster_yaml=cluster_file("prod", NAMESPACE),
            namespaces=[NAMESPACE],
        )
        body = yaml.safe_load(WORKSPACE.read_text())
        body["metadata"]["namespace"] = NAMESPACE
        world.put("qwen-coder-32b.yaml", yaml.safe_dump(body))
        [result] = world.validated().workspaces
        assert result.valid, result.findings
        assert result.placement is not None
        assert result.placement.pool.name == POOL

        results = world.run()
        assert {r.ok for r in results.values()} == {True}, results
        settled(lambda: (found := pods(kube, NAMESPACE, "qwen-coder-32b")) and ready(found[0]))
        [pod] = pods(kube, NAMESPACE, "qwen-coder-32b")
        assert node(kube, pod)["metadata"]["labels"][POOL_LABEL] == POOL
        assert pod["metadata"]["annotations"]["karpenter.sh/do-not-disrupt"] == "true"

        # What the NodePool's requirements cannot satisfy stays Pending on that node: more
        # GPUs than its instance type has, a capacity type it does not offer (validate says
        # so too), and a pod that does not tolerate its taint.
        selector = dict(nodepool["spec"]["template"]["metadata"]["labels"])
        pool = load_cluster(REPO / "clusters" / "prod" / "cluster.yaml").pool(POOL)
        assert pool is not None
        spot = {"karpenter.sh/capacity-type": "spot"}
        assert unsatisfiable(pool, spot)
        refused = {
            "three-gpus": gpu_pod("three-gpus", gpus=3, selector=selector, tolerate=True),
            "spot": gpu_pod("spot", gpus=1, selector=selector | spot, tolerate=True),
            "untolerated": gpu_pod("untolerated", gpus=1, selector=selector, tolerate=False),
        }
        for manifest in refused.values():
            kube.create(f"/api/v1/namespaces/{NAMESPACE}/pods", manifest)
        settled(lambda: all(pending_for(kube, name) for name in refused))
        messages = {name: pending_for(kube, name) for name in refused}
        assert "Insufficient nvidia.com/gpu" in messages["three-gpus"]
        assert "didn't match Pod's node affinity/selector" in messages["spot"]
        assert "untolerated taint" in messages["untolerated"]
        world.target.close()
        connection.close()
