"""Generated Workspaces for a cluster's node pools, and a copy of its cluster file for a test.

Test support for tests/cluster/test_scheduler_agreement.py: a seeded, reproducible mix of
serving Workspaces (catalog presets that need no access token, one to six replicas, some
pinned to a pool, some tolerating every pool's taints) that fills some pools past their GPUs,
so that ``validate`` accepts some and refuses others for capacity.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from controller.core.specs import Cluster

REPO = Path(__file__).resolve().parents[2]
#: Catalog presets whose weights are not gated (a gated one needs modelAccessSecret).
PRESETS = (
    "deepseek-r1-distill-llama-8b",
    "deepseek-r1-distill-qwen-14b",
    "falcon-7b-instruct",
    "gpt-oss-20b",
    "gpt-oss-120b",
    "phi-3-mini-128k-instruct",
    "phi-3.5-mini-instruct",
    "phi-4-mini-instruct",
    "phi-4",
    "qwen2.5-0.5b-instruct",
    "qwen2.5-coder-32b-instruct",
    "qwen2.5-coder-7b-instruct",
    "qwen3-8b",
)
REPLICAS = (1, 1, 1, 2, 3, 4, 6)


def cluster_file(name: str, namespace: str) -> str:
    """``clusters/<name>/cluster.yaml`` with one namespace, and no model cache: its
    PersistentVolumeClaims would wait for a storage provisioner this cluster lacks, and
    keep every pod unscheduled for a reason that has nothing to do with GPUs."""
    body: dict[str, Any] = yaml.safe_load((REPO / "clusters" / name / "cluster.yaml").read_text())
    body["spec"]["namespaces"] = [namespace]
    defaults = body["spec"].setdefault("defaults", {})
    defaults["namespace"] = namespace
    defaults.pop("modelCache", None)
    return yaml.safe_dump(body, sort_keys=False)


def workspaces(cluster: Cluster, namespace: str, *, count: int, seed: int) -> dict[str, str]:
    """``count`` Workspaces by file name, the same for the same seed."""
    rng = random.Random(seed)
    taints = [t for pool in cluster.node_pools for t in pool.taints]
    files = {}
    for index in range(count):
        name = f"ws-{index:02d}"
        annotations = ""
        if rng.random() < 0.5:
            pool = rng.choice(cluster.node_pools).name
            annotations = f"  annotations: {{modelsync.dev/pool: {pool}}}\n"
        tolerations = ""
        if taints and rng.random() < 0.6:
            tolerations = "tolerations:\n" + "".join(
                f"  - {{key: {t.key}, operator: Equal, value: '{t.value}', effect: {t.effect}}}\n"
                for t in taints
            )
        files[name] = (
            "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
            f"metadata:\n  name: {name}\n  namespace: {namespace}\n{annotations}"
            f"resource: {{count: {rng.choice(REPLICAS)}}}\n"
            f"inference:\n  preset: {{name: {rng.choice(PRESETS)}}}\n{tolerations}"
        )
    return files
