"""Karpenter NodePools: the objects that let an auto-provisioned pool create its own nodes.

Pure, beside placement: a cluster's pools that say ``autoProvision: {provider: karpenter}``
become a ``karpenter.sh/v1`` NodePool each plus the NodeClass of the cloud their instance
type belongs to (presets/instance-types.yaml): ``AKSNodeClass`` (karpenter.azure.com/v1beta1)
on Azure, ``EC2NodeClass`` (karpenter.k8s.aws/v1) on AWS. The adapters write them beside
the rendered releases (hydrate) or server-side apply them (helm); tests check every field
against the CRDs' own schemas (tests/karpenter).

The NodePool is shaped so that the Workspaces placed on the pool schedule onto its nodes and
are never evicted while serving: the pool's labels become node labels (the charts' nodeSelector
asks for them), its taints become node taints (validation already checks they are tolerated),
consolidation happens only to empty nodes, nodes never expire unless the pool says so, and
inference pods carry ``karpenter.sh/do-not-disrupt`` (releases.py), which blocks consolidation
and drift of their node.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.core.catalog import Catalog, InstanceType
from controller.core.findings import Finding, at
from controller.core.specs import Cluster, NodePool

PROVIDER = "karpenter"
NODEPOOL_API = "karpenter.sh/v1"
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_CAPACITY_TYPE = "karpenter.sh/capacity-type"
LABEL_OS = "kubernetes.io/os"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_CLUSTER = "modelsync.dev/cluster"
GPU_RESOURCE = "nvidia.com/gpu"


@dataclass(frozen=True, slots=True)
class NodeClassKind:
    """A cloud's Karpenter NodeClass, with the spec modelsync starts from."""

    group: str
    version: str
    kind: str
    capacity_types: frozenset[str]
    defaults: Mapping[str, Any]
    required: tuple[tuple[str, ...], ...] = ()  # each: one of these keys must be set

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}"


# Azure's provider accepts no "reserved" capacity (its WellKnownValuesForRequirements);
# AKSNodeClass needs nothing set, and its own defaults (Ubuntu, the GPU driver installed)
# suit GPU nodes. EC2NodeClass has no safe default for the node role, subnets or security
# groups of a cluster, so an AWS pool must name them; its AMI alias defaults to the newest
# AL2023, for which Karpenter picks the NVIDIA variant on GPU instance types.
NODE_CLASSES: Mapping[str, NodeClassKind] = {
    "azure": NodeClassKind(
        "karpenter.azure.com", "v1beta1", "AKSNodeClass", frozenset({"on-demand", "spot"}), {}
    ),
    "aws": NodeClassKind(
        "karpenter.k8s.aws",
        "v1",
        "EC2NodeClass",
        frozenset({"on-demand", "spot", "reserved"}),
        {"amiSelectorTerms": [{"alias": "al2023@latest"}]},
        required=(
            ("role", "instanceProfile"),
            ("subnetSelectorTerms",),
            ("securityGroupSelectorTerms",),
        ),
    ),
}

#: Label domains Karpenter keeps to itself or to the kubelet (core's RestrictedLabelDomains
#: and the providers' groups); a NodePool may not set labels there, well-known ones aside.
_RESTRICTED_DOMAINS = (
    "kubernetes.io",
    "k8s.io",
    "karpenter.sh",
    "karpenter.azure.com",
    "karpenter.k8s.aws",
)
_ALLOWED_DOMAINS = ("node-restriction.kubernetes.io",)
_WELL_KNOWN = frozenset(
    {
        LABEL_INSTANCE_TYPE,
        LABEL_OS,
        LABEL_CAPACITY_TYPE,
        "kubernetes.io/arch",
        "topology.kubernetes.io/zone",
        "topology.kubernetes.io/region",
    }
)


def auto_provisioned(cluster: Cluster) -> list[NodePool]:
    return [p for p in cluster.node_pools if p.auto_provision is not None]


def auto_provision_findings(cluster: Cluster, catalog: Catalog) -> list[Finding]:
    """What keeps the cluster's auto-provisioned pools from becoming NodePools Karpenter
    accepts (errors, located in cluster.yaml)."""
    return [f for i in range(len(cluster.node_pools)) for f in pool_findings(cluster, i, catalog)]


def pool_findings(cluster: Cluster, index: int, catalog: Catalog) -> list[Finding]:
    pool = cluster.node_pools[index]
    auto = pool.auto_provision
    if auto is None:
        return []
    findings: list[Finding] = []

    def problem(where: tuple[str | int, ...], message: str) -> None:
        path = ("spec", "nodePools", index, *where)
        findings.append(at(cluster.document, path, message, code="karpenter"))

    known = catalog.instance_type(pool.instance_type or "")
    if known is None:
        problem(
            ("instanceType",),
            f"instance type {pool.instance_type!r} is not in presets/instance-types.yaml, "
            "so its cloud (and NodeClass) and the NodePool's limits are unknown",
        )
        return findings
    kind = NODE_CLASSES.get(known.cloud)
    if kind is None:
        clouds = ", ".join(sorted(NODE_CLASSES))
        problem(
            ("autoProvision",),
            f"{known.name} is a {known.cloud} instance type; modelsync renders Karpenter "
            f"NodeClasses for {clouds} only",
        )
        return findings
    if known.vcpus is None or known.memory_gib is None:
        problem(
            ("instanceType",),
            f"presets/instance-types.yaml gives no vcpus and memoryGiB for {known.name}, "
            "which the NodePool's limits need",
        )
    refused = sorted(set(auto.capacity_types) - kind.capacity_types)
    if refused:
        problem(
            ("autoProvision", "capacityTypes"),
            f"{kind.kind} ({known.cloud}) does not offer capacity type "
            + ", ".join(repr(c) for c in refused),
        )
    for keys in kind.required:
        if not any(k in auto.node_class for k in keys):
            problem(
                ("autoProvision", "nodeClass"),
                f"{kind.kind} needs {' or '.join(keys)} in autoProvision.nodeClass "
                f"(no default fits every {known.cloud} account)",
            )
    for key in pool.labels:
        if _restricted(key):
            problem(
                ("labels", key),
                f"Karpenter does not let a NodePool set label {key!r} (a restricted "
                "domain); use a label of your own domain",
            )
    return findings


def _restricted(key: str) -> bool:
    if key in _WELL_KNOWN or "/" not in key:
        return False
    domain = key.split("/", 1)[0]

    def within(parent: str) -> bool:
        return domain == parent or domain.endswith("." + parent)

    return not any(within(d) for d in _ALLOWED_DOMAINS) and any(
        within(d) for d in _RESTRICTED_DOMAINS
    )


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
    metadata = {
        "name": pool.name,
        "labels": {LABEL_MANAGED_BY: "modelsync", LABEL_CLUSTER: cluster.name},
    }
    node_class = {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": metadata,
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
        "metadata": metadata,
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
    refers to its class), in pool order. Pools with findings are left out."""
    classes: list[dict[str, Any]] = []
    pools: list[dict[str, Any]] = []
    for index, pool in enumerate(cluster.node_pools):
        if pool.auto_provision is None or pool_findings(cluster, index, catalog):
            continue
        node_class, nodepool = node_pool(cluster, pool, catalog)
        classes.append(node_class)
        pools.append(nodepool)
    return classes + pools


def manifest_name(manifest: Mapping[str, Any]) -> str:
    """A file name for a manifest: ``<kind>-<name>.yaml`` in lower case."""
    return f"{str(manifest['kind']).lower()}-{manifest['metadata']['name']}.yaml"


__all__ = [
    "DO_NOT_DISRUPT",
    "NODE_CLASSES",
    "auto_provision_findings",
    "auto_provisioned",
    "limits",
    "manifest_name",
    "node_pool",
    "node_pool_manifests",
    "pool_findings",
]
