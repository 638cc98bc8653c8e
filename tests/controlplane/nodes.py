"""Fake nodes from a clusters repo's ``cluster.yaml``: one per node of each GPU node pool.

Test infrastructure (tests/controlplane): ``cluster.py`` writes these specs as JSON for the
fake kubelet (``fakekubelet/``, Go), which registers them. The cluster file is read and
checked by the controller's own code (``validate_files``), so the nodes are made from the
same node pools that ``modelsync validate`` sizes Workspaces against.

Each node carries its pool's labels and taints and ``nvidia.com/gpu`` = gpusPerNode; a pool
of ``maxNodes`` (autoscaled) gets all of them, as if scaled out. GPUs are the resource under
test: CPU and memory are as much per GPU as the workload charts ask at most (8 CPUs, 64 GiB
for a trainer), times two, so they never decide where a Workspace fits.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypedDict

from controller.adapters.bundled import load_bundle
from controller.core.catalog import InstanceType
from controller.core.documents import SourceFile
from controller.core.specs import Cluster, NodePool
from controller.core.validation import validate_files

#: The pool a fake node was made from (the pool's own labels need not name it).
POOL_LABEL = "tests.modelsync.dev/pool"
CPUS_PER_GPU = 16
MEMORY_GIB_PER_GPU = 128


class NodeSpec(TypedDict):
    """One fake node, as ``fakekubelet.NodeSpec`` reads it."""

    name: str
    labels: dict[str, str]
    taints: list[dict[str, str]]
    capacity: dict[str, str]


class ClusterFileError(Exception):
    """The cluster file is missing or invalid; the message lists why."""


def load_cluster(path: Path) -> Cluster:
    """The Cluster that ``clusters/<name>/cluster.yaml`` describes, validated."""
    if not path.is_file():
        raise ClusterFileError(f"{path}: no such file")
    bundle = load_bundle()
    name = path.parent.name
    source = SourceFile(f"clusters/{name}/cluster.yaml", data=path.read_bytes())
    report = validate_files([source], schemas=bundle.schemas, catalog=bundle.catalog)
    result = report.cluster(name)
    if result is None or result.cluster is None:
        findings = [*report.findings, *(result.findings if result else ())]
        errors = "; ".join(f"{f.field}: {f.message}" for f in findings if f.is_error)
        raise ClusterFileError(f"{path}: {errors or 'not a Cluster'}")
    return result.cluster


def node_specs(cluster: Cluster) -> list[NodeSpec]:
    """Every node of every pool, named ``<cluster>-<pool>-<index>``."""
    return [
        _node(cluster.name, pool, index)
        for pool in cluster.node_pools
        for index in range(pool.node_capacity)
    ]


def _node(cluster: str, pool: NodePool, index: int) -> NodeSpec:
    name = f"{cluster}-{pool.name}-{index}"
    gpus = pool.gpus_per_node
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        POOL_LABEL: pool.name,
    }
    if pool.instance_type:
        labels["node.kubernetes.io/instance-type"] = pool.instance_type
    return {
        "name": name,
        "labels": labels | dict(pool.labels),
        "taints": [
            {"key": t.key, "effect": t.effect} | ({"value": t.value} if t.value else {})
            for t in pool.taints
        ],
        "capacity": {
            "cpu": str(CPUS_PER_GPU * max(gpus, 1)),
            "memory": f"{MEMORY_GIB_PER_GPU * max(gpus, 1)}Gi",
            "ephemeral-storage": "1Ti",
            "pods": "110",
            "nvidia.com/gpu": str(gpus),
        },
    }


def node_from_nodepool(name: str, nodepool: Mapping[str, Any], instance: InstanceType) -> NodeSpec:
    """The node Karpenter would launch for ``nodepool`` (karpenter.sh/v1): every requirement
    with operator In gives its label (its first value), the template's labels and taints
    are the node's, and its capacity is the instance type's (GPUs, vCPUs, memory)."""
    template = nodepool["spec"]["template"]
    spec = template["spec"]
    labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/arch": "amd64",
        "karpenter.sh/nodepool": nodepool["metadata"]["name"],
        POOL_LABEL: nodepool["metadata"]["name"],
    }
    labels |= {r["key"]: r["values"][0] for r in spec["requirements"] if r["operator"] == "In"}
    labels |= dict(template.get("metadata", {}).get("labels", {}))
    capacity = {
        "ephemeral-storage": "1Ti",
        "pods": "110",
        "nvidia.com/gpu": str(instance.gpu_count),
        "cpu": str(instance.vcpus or CPUS_PER_GPU * max(instance.gpu_count, 1)),
        "memory": f"{int(instance.memory_gib or MEMORY_GIB_PER_GPU * instance.gpu_count)}Gi",
    }
    taints = [{str(k): str(v) for k, v in taint.items()} for taint in spec.get("taints", [])]
    return {"name": name, "labels": labels, "taints": taints, "capacity": capacity}
