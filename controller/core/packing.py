"""Capacity: whether every placed replica packs onto its pool's nodes, after placement.

Pure, over the placements of one cluster's Workspaces and RAGEngines (placement.py). Each
replica takes ``gpus_per_replica`` GPUs of one node; a multi-node group takes that many on
each of ``nodes`` nodes. Packing is first fit, largest first; what does not pack gets a
finding on the resource of each Workspace left over.
"""

from __future__ import annotations

from collections.abc import Sequence

from controller.core.findings import Finding, at
from controller.core.placement import GPU_LIMIT, Placeable, Placement
from controller.core.specs import Cluster


def capacity_findings(
    cluster: Cluster, placed: Sequence[tuple[Placeable, Placement]]
) -> list[tuple[Placeable, Finding]]:
    """Pack every replica onto its pool's nodes (first fit, largest first) and report overflow,
    each finding with the Workspace or RAGEngine it is about (a file may hold several)."""
    findings: list[tuple[Placeable, Finding]] = []
    for pool in cluster.node_pools:
        here = [(ws, p) for ws, p in placed if p.pool.name == pool.name]
        if not here:
            continue
        free = [pool.gpus_per_node] * pool.node_capacity
        replicas = sorted(
            (
                (p.gpus_per_replica, ws.namespace or "", ws.name, ws)
                for ws, p in here
                for _ in range(p.replicas * p.nodes)
            ),
            key=lambda item: (-item[0], item[1], item[2]),
        )
        unplaced: dict[int, Placeable] = {}
        for gpus, _, _, ws in replicas:
            slot = next((i for i, left in enumerate(free) if left >= gpus), None)
            if slot is None:
                unplaced[id(ws)] = ws
            else:
                free[slot] -= gpus
        if not unplaced:
            continue
        need = sum(p.gpus for _, p in here)
        have = pool.gpus_per_node * pool.node_capacity
        demand = ", ".join(
            f"{ws.name} {p.replicas * p.nodes}x{p.gpus_per_replica}" for ws, p in here
        )
        nodes = "max " if pool.nodes is None else ""
        summary = (
            f"node pool {pool.name} of cluster {cluster.name} is over capacity: its "
            f"Workspaces need {need} GPUs ({demand}) but it has {have} "
            f"({nodes}{pool.node_capacity} nodes x {pool.gpus_per_node})"
        )
        if pool.auto_provision is not None:
            # Karpenter launches nothing past the NodePool's limits (maxNodes nodes' worth).
            summary += f"; its Karpenter NodePool's limits ({GPU_LIMIT}: {have}) are exhausted"
        if need <= have:
            summary += "; replicas do not pack onto whole nodes"
        for ws in unplaced.values():
            findings.append((ws, at(ws.document, ws.resource_field, summary, code="capacity")))
    return findings
