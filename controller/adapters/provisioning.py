"""Karpenter NodePools and NodeClasses applied to a cluster (the helm target's side).

Adapter layer. ``controller/core/nodepools.py`` decides the objects; the hydrate target
writes them as files (``hydrate.py``); this module server-side applies them with field
manager ``modelsync`` (forced: cluster.yaml owns these fields). NodePools that modelsync
applied earlier but cluster.yaml no longer has are reported, never deleted: deleting a
NodePool makes Karpenter drain and terminate every node it created, with the models
serving on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.adapters.kube import KubeClient, KubeError, KubeNotFoundError, object_path
from controller.core.karpenter import NODEPOOL_API
from controller.core.releases import LABEL_CLUSTER, LABEL_MANAGED_BY, MANAGER

APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True)
class Applied:
    """What one apply of a cluster's NodePools did."""

    applied: tuple[str, ...]  # kind/name of each object applied
    orphaned: tuple[str, ...] = ()  # NodePools modelsync applied that cluster.yaml dropped


def apply_node_pools(
    client: KubeClient,
    cluster: str,
    manifests: Sequence[Mapping[str, Any]],
    *,
    timeout: float | None = None,
) -> Applied:
    """Server-side apply every manifest (NodeClasses first, as given). Raises KubeError:
    a missing CRD (Karpenter not installed) is a 404 for the first object."""
    applied = []
    for manifest in manifests:
        name = str(manifest["metadata"]["name"])
        path = object_path(str(manifest["apiVersion"]), str(manifest["kind"]), None, name)
        client.request(
            "PATCH",
            path,
            query={"fieldManager": MANAGER, "force": "true"},
            body=dict(manifest),
            content_type=APPLY_PATCH,
            timeout=timeout,
        )
        applied.append(f"{manifest['kind']}/{name}")
    wanted = {str(m["metadata"]["name"]) for m in manifests if m["kind"] == "NodePool"}
    selector = f"{LABEL_MANAGED_BY}={MANAGER},{LABEL_CLUSTER}={cluster}"
    try:
        listed = client.list(
            object_path(NODEPOOL_API, "NodePool", None), label_selector=selector, timeout=timeout
        )
    except KubeNotFoundError:  # no NodePool CRD (Karpenter not installed), none applied
        if manifests:
            raise
        listed = []
    orphaned = sorted(
        f"NodePool/{name}"
        for item in listed
        if (name := str((item.get("metadata") or {}).get("name") or "")) not in wanted
    )
    return Applied(tuple(applied), tuple(orphaned))


__all__ = ["Applied", "KubeError", "apply_node_pools"]
