"""Karpenter NodePools and NodeClasses rendered from a cluster's auto-provisioned pools.

Pure, after validation: each pool with ``autoProvision`` that passed ``karpenter.py``'s
checks becomes its cloud's NodeClass and a ``karpenter.sh/v1`` NodePool, labelled as
modelsync's (``modelsync.dev/managed-by``, ``modelsync.dev/cluster``). The adapters write
them beside the rendered releases or server-side apply them (adapters/provisioning.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from controller.core.catalog import Catalog, InstanceType
from controller.core.karpenter import (
    GPU_RESOURCE,
    LABEL_CAPACITY_TYPE,
    LABEL_INSTANCE_TYPE,
    LABEL_OS,
    NODE_CLASSES,
    NODEPOOL_API,
    pool_findings,
)
from controller.core.releases import LABEL_CLUSTER, LABEL_MANAGED_BY, MANAGER
from controller.core.specs import Cluster, NodePool


def limits(pool: NodePool, instance: InstanceType) -> dict[str, str]:
    """``maxNodes`` nodes' worth of the instance type: Karpenter launches no node past these.

    Karpenter counts a node's capacity as it will register (its memory a little below the
    VM's), so limits at the nominal figures admit exactly ``maxNodes`` nodes.
    """
    nodes = pool.max_nodes or 0
    out = {GPU_RESOURCE: str(nodes * instance.gpu_count)}
    if instance.vcpus is not None:
        out["cpu"] = str(nodes * instance.vcpus)
    if instance.memory_gib is not None:
        out["memory"] = f"{math.ceil(nodes * instance.memory_gib)}Gi"
    return out


def node_pool(cluster: Cluster, pool: NodePool, catalog: Catalog) -> list[dict[str, Any]]:
    """The NodeClass and NodePool of one auto-provisioned pool that passed its findings."""
    auto = pool.auto_provision
    instance = catalog.instance_type(pool.instance_type or "")
    assert auto is not None
    assert instance is not None
    kind = NODE_CLASSES[instance.cloud]

    def metadata() -> dict[str, Any]:
        labels = {LABEL_MANAGED_BY: MANAGER, LABEL_CLUSTER: cluster.name}
        return {"name": pool.name, "labels": labels}

    node_class = {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": metadata(),
        "spec": dict(kind.defaults) | dict(auto.node_class),
    }
    requirements = [
        {"key": LABEL_INSTANCE_TYPE, "operator": "In", "values": [instance.name]},
        {"key": LABEL_CAPACITY_TYPE, "operator": "In", "values": list(auto.capacity_types)},
        {"key": LABEL_OS, "operator": "In", "values": ["linux"]},
    ]
    template_spec: dict[str, Any] = {
        "nodeClassRef": {"group": kind.group, "kind": kind.kind, "name": pool.name},
        "requirements": requirements,
        "expireAfter": auto.expire_after,
    }
    if pool.taints:
        template_spec["taints"] = [
            {"key": t.key, "effect": t.effect} | ({"value": t.value} if t.value else {})
            for t in pool.taints
        ]
    template: dict[str, Any] = {"spec": template_spec}
    if pool.labels:
        template["metadata"] = {"labels": dict(pool.labels)}
    nodepool = {
        "apiVersion": NODEPOOL_API,
        "kind": "NodePool",
        "metadata": metadata(),
        "spec": {
            "template": template,
            "limits": limits(pool, instance),
            "disruption": {
                "consolidationPolicy": "WhenEmpty",
                "consolidateAfter": auto.consolidate_after,
                "budgets": [dict(b) for b in auto.budgets],
            },
        },
    }
    return [node_class, nodepool]


def node_pool_manifests(cluster: Cluster, catalog: Catalog) -> list[dict[str, Any]]:
    """Every auto-provisioned pool's NodeClass and NodePool, NodeClasses first (a NodePool
    refers to its class), in pool order. Pools with errors are left out."""
    classes: list[dict[str, Any]] = []
    pools: list[dict[str, Any]] = []
    for index, pool in enumerate(cluster.node_pools):
        if pool.auto_provision is None:
            continue
        if any(f.is_error for f in pool_findings(cluster, index, catalog)):
            continue
        node_class, nodepool = node_pool(cluster, pool, catalog)
        classes.append(node_class)
        pools.append(nodepool)
    return classes + pools


def manifest_name(manifest: Mapping[str, Any]) -> str:
    """A file name for a manifest: ``<kind>-<name>.yaml`` in lower case."""
    return f"{str(manifest['kind']).lower()}-{manifest['metadata']['name']}.yaml"


__all__ = ["limits", "manifest_name", "node_pool", "node_pool_manifests"]
