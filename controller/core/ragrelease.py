"""The workspace-rag chart's values for one valid RAGEngine (releases.py builds the release).

Pure. The chart (charts/workspace-rag) runs modelsync-rag as one pod; these values say
which embedding model it loads and on what, which served model answers, and where the
indexes live. A RAGEngine placed on a GPU pool asks for one GPU there and goes to the
pool's nodes; without ``compute.instanceType`` it runs on the CPU nodes the chart's
defaults describe.
"""

from __future__ import annotations

from typing import Any

from controller.core.placement import GPU_LIMIT, GPU_TAINT_KEY, Placement
from controller.core.ragengines import InferenceTarget, RAGEngine

RAG_CHART = "workspace-rag"
#: What the embedding model needs beside its GPU (the chart's CPU defaults, kept on a GPU).
_RESOURCES = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "4Gi"}}


def rag_values(
    rag: RAGEngine, placement: Placement | None, target: InferenceTarget | None, cluster: str
) -> dict[str, Any]:
    """Chart values for ``rag``; ``target`` is the Workspace its inference URL named."""
    inference: dict[str, Any] = {
        "url": rag.inference_url or "",
        "model": target.model if target is not None else "",
        "accessSecret": rag.inference_secret or "",
    }
    if rag.context_window is not None:
        inference["contextWindow"] = rag.context_window
    values: dict[str, Any] = {
        "ragEngine": {"name": rag.name, "cluster": cluster},
        "embedding": {
            "model": rag.embedding_model or "",
            "device": "cpu" if placement is None else "cuda",
        },
        "inference": inference,
        # KAITO keeps a RAGEngine's indexes in memory unless storage names a claim.
        "persistence": {
            "enabled": bool(rag.storage_claim),
            "existingClaim": rag.storage_claim or "",
        },
    }
    if placement is not None:
        pool = placement.pool
        values["nodeSelector"] = dict(pool.labels)
        values["tolerations"] = [
            {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
        ]
        values["resources"] = {
            "requests": dict(_RESOURCES["requests"]),
            "limits": _RESOURCES["limits"] | {GPU_LIMIT: placement.gpus_per_replica},
        }
    return values


__all__ = ["RAG_CHART", "rag_values"]
