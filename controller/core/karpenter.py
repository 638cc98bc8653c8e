"""Karpenter's rules for auto-provisioned pools: which NodeClass a cloud has, and what in a
pool's cluster.yaml entry Karpenter would refuse (validation reports it).

Pure, beside placement; ``nodepools.py`` renders the objects. A pool that says
``autoProvision: {provider: karpenter}`` becomes a ``karpenter.sh/v1`` NodePool plus the
NodeClass of the cloud its instance type belongs to (presets/instance-types.yaml):
``AKSNodeClass`` (karpenter.azure.com/v1beta1) on Azure, ``EC2NodeClass``
(karpenter.k8s.aws/v1) on AWS. Tests check every field against the CRDs' own schemas
(tests/karpenter).

The NodePool is shaped so that the Workspaces placed on the pool schedule onto its nodes and
are never evicted while serving: the pool's labels become node labels (the charts'
nodeSelector asks for them), its taints become node taints (validation already checks they
are tolerated), consolidation happens only to empty nodes, nodes never expire unless the
pool says so, and their pods carry ``karpenter.sh/do-not-disrupt`` (releases.py), which
blocks consolidation and drift of their node.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controller.core.catalog import Catalog
from controller.core.findings import Finding, Severity, at
from controller.core.specs import Cluster, NodePool

PROVIDER = "karpenter"
NODEPOOL_API = "karpenter.sh/v1"
LABEL_INSTANCE_TYPE = "node.kubernetes.io/instance-type"
LABEL_CAPACITY_TYPE = "karpenter.sh/capacity-type"
LABEL_OS = "kubernetes.io/os"
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
    accepts (errors) or makes them less than asked (warnings), located in cluster.yaml."""
    return [f for i in range(len(cluster.node_pools)) for f in pool_findings(cluster, i, catalog)]


def pool_findings(cluster: Cluster, index: int, catalog: Catalog) -> list[Finding]:
    pool = cluster.node_pools[index]
    auto = pool.auto_provision
    if auto is None:
        return []
    findings: list[Finding] = []

    def problem(
        where: tuple[str | int, ...], message: str, severity: Severity = Severity.ERROR
    ) -> None:
        path = ("spec", "nodePools", index, *where)
        findings.append(at(cluster.document, path, message, code="karpenter", severity=severity))

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
        # The GPU limit alone still caps the pool at maxNodes nodes.
        problem(
            ("instanceType",),
            f"presets/instance-types.yaml gives no vcpus and memoryGiB for {known.name}; "
            "the NodePool's limits cap GPUs only",
            Severity.WARNING,
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


def unsatisfiable(pool: NodePool, node_selector: Mapping[str, str]) -> list[str]:
    """nodeSelector entries no node of the pool's NodePool will have, so Karpenter would
    leave the pods pending: a label of the requirements with another value, or a label of
    your own domain that the pool does not set. Labels in the domains Karpenter and the
    kubelet own (zone, arch, the providers' sku labels, ...) are left to them."""
    auto = pool.auto_provision
    if auto is None:
        return []
    fixed: dict[str, tuple[str, ...]] = {
        LABEL_INSTANCE_TYPE: (pool.instance_type or "",),
        LABEL_OS: ("linux",),
        LABEL_CAPACITY_TYPE: auto.capacity_types,
    }
    reasons = []
    for key, value in sorted(node_selector.items()):
        if key in fixed and value not in fixed[key]:
            reasons.append(f"{key}={value} (the NodePool launches {', '.join(fixed[key])})")
        elif key not in fixed and key not in pool.labels and not _reserved_domain(key):
            reasons.append(f"{key}={value} (not a label of the pool)")
    return reasons


def _restricted(key: str) -> bool:
    """A label a NodePool may not set (Karpenter's or the kubelet's, well-known ones aside)."""
    return key not in _WELL_KNOWN and _reserved_domain(key)


def _reserved_domain(key: str) -> bool:
    if "/" not in key:
        return False
    domain = key.split("/", 1)[0]

    def within(parent: str) -> bool:
        return domain == parent or domain.endswith("." + parent)

    return not any(within(d) for d in _ALLOWED_DOMAINS) and any(
        within(d) for d in _RESTRICTED_DOMAINS
    )


__all__ = [
    "NODEPOOL_API",
    "NODE_CLASSES",
    "auto_provision_findings",
    "auto_provisioned",
    "pool_findings",
    "unsatisfiable",
]
