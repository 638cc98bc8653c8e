"""GPU capacity as the status page shows it: what each pool holds and what is planned on it.

Pure, after validation: the placements of a cluster's valid Workspaces (the ones that
become releases) are summed per node pool against the pool's GPUs (nodes, or the
autoscaler's maximum, times GPUs per node). ``capacity_findings`` in ``packing.py``
decides whether the replicas *fit*; this only counts, for people to read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from controller.core.placement import Placement
from controller.core.ragengines import RAGEngine
from controller.core.releases import release_name
from controller.core.specs import NodePool
from controller.core.validation import ClusterResult

__all__ = ["Assignment", "PoolUsage", "assignments", "cluster_usage", "pool_usage"]


@dataclass(frozen=True)
class PoolUsage:
    """One node pool: its GPU model, GPUs planned on it and GPUs it can hold."""

    name: str
    gpu: str
    used: int
    total: int


@dataclass(frozen=True)
class Assignment:
    """Where one Workspace runs: its model preset, and its pool and GPUs once placed."""

    model: str
    pool: str = ""
    gpus: int | None = None


def pool_usage(pools: Sequence[NodePool], placements: Iterable[Placement]) -> tuple[PoolUsage, ...]:
    """Used and total GPUs of every pool, in the cluster file's order (empty pools too)."""
    used = dict.fromkeys((p.name for p in pools), 0)
    for placement in placements:
        # A pool that left the cluster file has no row: its releases are pruned or held.
        if placement.pool.name in used:
            used[placement.pool.name] += placement.gpus
    return tuple(
        PoolUsage(p.name, p.gpu, used[p.name], p.gpus_per_node * p.node_capacity) for p in pools
    )


def cluster_usage(result: ClusterResult) -> tuple[PoolUsage, ...]:
    """``pool_usage`` of a validated cluster: the placements that become releases (valid,
    placed Workspaces, suspended ones too) on the cluster file's pools."""
    if result.cluster is None:
        return ()
    placements = [w.placement for w in result.workspaces if w.valid and w.placement is not None]
    return pool_usage(result.cluster.node_pools, placements)


def assignments(result: ClusterResult) -> Mapping[tuple[str, str], Assignment]:
    """Model, pool and GPUs by the key of each Workspace's status row (``WorkspaceStatus.key``).

    A valid Workspace is keyed by its release, an invalid one by its name, as its row is;
    an invalid one has a model (when its preset is known) but no pool.
    """
    out: dict[tuple[str, str], Assignment] = {}
    for w in result.workspaces:
        if w.workspace is None or not w.workspace.name:
            continue
        model = w.preset.name if w.preset is not None else ""
        if isinstance(w.workspace, RAGEngine):  # a RAG engine's model is its embedding model
            model = w.workspace.embedding_model or ""
        key = (w.namespace, release_name(w.workspace.name))
        if w.valid and w.placement is not None:
            out[key] = Assignment(model, w.placement.pool.name, w.placement.gpus)
        elif w.placed:  # a RAGEngine on CPU nodes
            out[key] = Assignment(model)
        else:
            out[(w.namespace, w.workspace.name)] = Assignment(model)
    return out
