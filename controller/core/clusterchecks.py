"""Checks of a cluster file beyond its schema: its name, namespaces and node pools.

Pure, called by validation.py for each cluster.yaml that passed its schema; the pools'
Karpenter rules come from karpenter.py.
"""

from __future__ import annotations

from controller.core.catalog import Catalog
from controller.core.findings import Finding, Severity, at
from controller.core.karpenter import auto_provision_findings
from controller.core.placement import pool_gpu
from controller.core.specs import Cluster


def cluster_findings(spec: Cluster, directory_name: str, catalog: Catalog) -> list[Finding]:
    doc, findings = spec.document, []
    if spec.name != directory_name:
        findings.append(
            at(
                doc,
                ("metadata", "name"),
                f"cluster {spec.name!r} lives in directory {directory_name!r}; name them the same",
                code="cluster",
                severity=Severity.WARNING,
            )
        )
    if spec.default_namespace not in spec.namespaces:
        findings.append(
            at(
                doc,
                ("spec", "defaults", "namespace"),
                f"default namespace {spec.default_namespace!r} is not in spec.namespaces",
                code="cluster",
            )
        )
    seen: set[str] = set()
    for i, pool in enumerate(spec.node_pools):
        path = ("spec", "nodePools", i)
        if pool.name in seen:
            findings.append(
                at(
                    doc,
                    (*path, "name"),
                    f"node pool {pool.name!r} is declared twice",
                    code="cluster",
                )
            )
        seen.add(pool.name)
        if pool_gpu(pool, catalog) is None:
            close = catalog.closest_gpu(pool.gpu)
            hint = f" (did you mean {close!r}?)" if close else ""
            findings.append(
                at(
                    doc,
                    (*path, "gpu"),
                    f"unknown GPU {pool.gpu!r}{hint}; presets/gpus.yaml lists the known ones",
                    code="cluster",
                )
            )
            continue
        known = catalog.instance_type(pool.instance_type) if pool.instance_type else None
        gpu = catalog.gpu(pool.gpu)
        if (
            known is not None
            and gpu is not None
            and (catalog.gpu(known.gpu) != gpu or known.gpu_count != pool.gpus_per_node)
        ):
            findings.append(
                at(
                    doc,
                    (*path, "instanceType"),
                    f"{known.name} carries {known.gpu_count} x {known.gpu}, but the pool "
                    f"says {pool.gpus_per_node} x {gpu.name}",
                    code="cluster",
                    severity=Severity.WARNING,
                )
            )
    return findings + auto_provision_findings(spec, catalog)
