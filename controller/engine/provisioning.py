"""The cluster's Karpenter NodePools, handed to the target once per full pass.

Engine layer, between validation and the releases of a pass (``sync.py`` calls it before
applying the plan, so a release's pods find the NodePool they need). The objects come from
pure code (core/nodepools.py); a target that can carry them (core/ports.py
``NodePoolTarget``: the hydrate and helm targets) writes or applies them. A failure is
logged and does not stop the pass: Workspaces on fixed pools need no NodePool, and the
next full pass tries again.
"""

from __future__ import annotations

import logging

from controller.core.catalog import Catalog
from controller.core.nodepools import node_pool_manifests
from controller.core.ports import NodePoolTarget, TargetError
from controller.core.specs import Cluster

log = logging.getLogger(__name__)


def provision(target: object, cluster: Cluster, catalog: Catalog) -> list[str]:
    """Write or apply the cluster's NodePools and NodeClasses; what changed."""
    if not isinstance(target, NodePoolTarget):
        return []
    try:
        changed = target.node_pools(node_pool_manifests(cluster, catalog))
    except TargetError as e:
        log.warning("Karpenter NodePools of cluster %s not updated: %s", cluster.name, e)
        return []
    for line in changed:
        log.info("karpenter: %s", line)
    return changed


__all__ = ["provision"]
