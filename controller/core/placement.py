"""Placement: which node pool a Workspace runs on, how big it is there, and whether the
cluster has room for all of them.

The pool comes from ``resource.instanceType`` (KAITO's way to say which machines), else
the ``modelsync.dev/pool`` annotation, else the pool where the Workspace needs the fewest
GPUs. KAITO's ``labelSelector`` keeps its meaning (labels of the nodes to prefer) and
does not pick or reject a pool. A pool's taints, other than the ``nvidia.com/gpu`` taint
every GPU workload tolerates, must be tolerated by the Workspace.

``resource.count`` counts nodes, as in KAITO: a model one node holds runs ``count`` replicas;
a model no node holds runs as ONE multi-node group of ``count`` nodes (a LeaderWorkerSet,
sizing.size_group), and a count below the group's minimum is an error at ``resource.count``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from controller.core.catalog import Catalog, Preset
from controller.core.documents import Document
from controller.core.findings import Finding, Severity, at, did_you_mean
from controller.core.karpenter import unsatisfiable
from controller.core.podtemplates import template_gpus
from controller.core.sizing import (
    InferenceSizing,
    TuningSizing,
    size_group,
    size_inference,
    size_tuning,
)
from controller.core.sizingexplain import explain_inference, explain_tuning
from controller.core.specs import Cluster, NodePool, Taint, Toleration, Workspace
from controller.core.trainingconfig import sections_of

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_LIMIT = "nvidia.com/gpu"


class Placeable(Protocol):
    """What placement reads of a Workspace or a RAGEngine (ragengines.py)."""

    @property
    def name(self) -> str: ...
    @property
    def namespace(self) -> str | None: ...
    @property
    def instance_type(self) -> str | None: ...
    @property
    def tolerations(self) -> tuple[Toleration, ...]: ...
    @property
    def node_selector(self) -> Mapping[str, str]: ...
    @property
    def document(self) -> Document: ...
    @property
    def resource_field(self) -> tuple[str, ...]: ...
    def annotation(self, name: str) -> str | None: ...


@dataclass(frozen=True)
class Placement:
    pool: NodePool
    gpu: str
    gpu_memory_gib: float
    replicas: int
    gpus_per_replica: int
    inference: InferenceSizing | None = None
    tuning: TuningSizing | None = None
    explain: tuple[str, ...] = ()
    #: Nodes of each replica: 1, or a multi-node group's size (``gpus_per_replica`` per node).
    nodes: int = 1

    @property
    def gpus(self) -> int:
        return self.replicas * self.nodes * self.gpus_per_replica


def pool_gpu(pool: NodePool, catalog: Catalog) -> tuple[str, float] | None:
    """The pool's GPU model name and memory in GiB, or None when the catalog lacks it."""
    gpu = catalog.gpu(pool.gpu)
    if gpu is None:
        return None
    return gpu.name, pool.gpu_memory_gib or gpu.memory_gib


def untolerated_taints(pool: NodePool, ws: Placeable) -> list[Taint]:
    return [
        taint
        for taint in pool.taints
        if taint.key != GPU_TAINT_KEY
        and taint.effect != "PreferNoSchedule"
        and not any(taint.tolerated_by(t) for t in ws.tolerations)
    ]


def place(
    ws: Workspace, preset: Preset, cluster: Cluster, catalog: Catalog
) -> tuple[Placement | None, list[Finding]]:
    """Choose the pool and size the Workspace on it, or say why it cannot run."""
    doc = ws.document
    explicit, findings = _explicit_pools(ws, cluster)
    if findings:
        return None, findings
    candidates = explicit if explicit is not None else list(cluster.node_pools)
    attempts: list[tuple[NodePool, Placement | None, str]] = []
    for pool in candidates:
        blocked = _blocked(ws, pool)
        if blocked:
            attempts.append((pool, None, blocked))
            continue
        gpu = pool_gpu(pool, catalog)
        if gpu is None:
            attempts.append((pool, None, f"its GPU {pool.gpu!r} is not in the GPU table"))
            continue
        unsupported = _weights_unsupported(preset, catalog, pool)
        if unsupported:
            attempts.append((pool, None, unsupported))
            continue
        placement, reason = _size(ws, preset, cluster, pool, gpu)
        attempts.append((pool, placement, reason))
    fitting = [p for _, p, _ in attempts if p is not None]
    if fitting:
        best = min(
            fitting, key=lambda p: (p.nodes, p.gpus_per_replica, p.gpu_memory_gib, p.pool.name)
        )
        return best, _group_note(ws, best)
    where = (*ws.resource_field, "instanceType") if ws.instance_type else ws.resource_field
    if explicit is not None and len(attempts) == 1:
        pool, _, reason = attempts[0]
        if reason.startswith(TOO_FEW_NODES) and ws.count > 1:
            # A multi-node group was asked for, too small; with no count the machine is
            # the first thing to change (KAITO's webhook points there too).
            where = (*ws.resource_field, "count")
        return None, [
            at(
                doc,
                where,
                f"does not fit pool {pool.name} of cluster {cluster.name}: {reason}",
                code="fit",
            )
        ]
    reasons = "; ".join(f"{pool.name}: {reason}" for pool, _, reason in attempts)
    return None, [
        at(doc, where, f"fits no node pool of cluster {cluster.name} ({reasons})", code="fit")
    ]


def place_embedding(
    rag: Placeable, cluster: Cluster, catalog: Catalog
) -> tuple[Placement | None, list[Finding]]:
    """A RAGEngine's pool, by the Workspace rules (instanceType, else modelsync.dev/pool),
    with one GPU for its embedding model; None without either: it runs on CPU nodes.

    KAITO runs the engine as one pod per index volume, so one replica; an embedding model
    (tens to hundreds of MB) fits any GPU in the table.
    """
    explicit, findings = _explicit_pools(rag, cluster)
    if findings or explicit is None:
        return None, findings
    reasons: list[tuple[str, str]] = []
    for pool in explicit:
        gpu = pool_gpu(pool, catalog)
        blocked = _blocked(rag, pool) or ("" if gpu else f"its GPU {pool.gpu!r} is not known")
        if blocked or gpu is None:
            reasons.append((pool.name, blocked))
            continue
        line = f"{rag.name}: embedding model on pool {pool.name} ({gpu[0]}): 1 replica x 1 GPU"
        return Placement(pool, gpu[0], gpu[1], 1, 1, explain=(line,)), []
    where = (*rag.resource_field, "instanceType") if rag.instance_type else rag.resource_field
    if len(reasons) == 1:
        message = f"does not fit pool {reasons[0][0]} of cluster {cluster.name}: {reasons[0][1]}"
    else:
        listed = "; ".join(f"{name}: {reason}" for name, reason in reasons)
        message = f"fits no node pool of cluster {cluster.name} ({listed})"
    return None, [at(rag.document, where, message, code="fit")]


def place_template(
    ws: Workspace, cluster: Cluster, catalog: Catalog
) -> tuple[Placement | None, list[Finding]]:
    """The pool for a custom pod template: no sizing, its containers' GPU requests must fit."""
    explicit, findings = _explicit_pools(ws, cluster)
    if findings:
        return None, findings
    gpus = template_gpus(ws.inference.template if ws.inference else None)
    reasons: list[str] = []
    for pool in explicit if explicit is not None else cluster.node_pools:
        blocked = _blocked(ws, pool)
        gpu = pool_gpu(pool, catalog)
        if not blocked and gpus > pool.gpus_per_node:
            blocked = f"the template asks for {gpus} GPUs, a node has {pool.gpus_per_node}"
        if blocked or gpu is None:
            reasons.append(f"{pool.name}: {blocked or 'its GPU is not in the GPU table'}")
            continue
        note = f"custom pod template on pool {pool.name}: {gpus} GPU(s) per replica, not sized"
        return Placement(pool, gpu[0], gpu[1], ws.count, gpus, explain=(note,)), []
    where = ("resource", "instanceType") if ws.instance_type else ("resource",)
    message = f"fits no node pool of cluster {cluster.name} ({'; '.join(reasons)})"
    return None, [at(ws.document, where, message, code="fit")]


#: vLLM runs FP8 checkpoints as W8A8 from compute capability 8.9 and weight-only (FP8 Marlin)
#: from 7.5; Volta (7.0) cannot load them (vLLM 0.32 docs, features/quantization/fp8).
FP8_MIN_COMPUTE_CAPABILITY = (7, 5)


def _weights_unsupported(preset: Preset, catalog: Catalog, pool: NodePool) -> str:
    gpu = catalog.gpu(pool.gpu)
    if preset.dtype != "fp8" or gpu is None:
        return ""
    major, minor = (int(part) for part in gpu.compute_capability.split("."))
    if (major, minor) >= FP8_MIN_COMPUTE_CAPABILITY:
        return ""
    return (
        f"its {gpu.name} (compute capability {gpu.compute_capability}) cannot run the "
        f"preset's FP8 weights; vLLM needs {'.'.join(map(str, FP8_MIN_COMPUTE_CAPABILITY))}"
        " or newer"
    )


def _explicit_pools(ws: Placeable, cluster: Cluster) -> tuple[list[NodePool] | None, list[Finding]]:
    doc = ws.document
    if ws.instance_type:
        pools = [p for p in cluster.node_pools if p.instance_type == ws.instance_type]
        if not pools:
            known = [p.instance_type for p in cluster.node_pools if p.instance_type]
            listing = (
                ", ".join(
                    f"{p.name} ({p.instance_type})" for p in cluster.node_pools if p.instance_type
                )
                or "none declare one"
            )
            return None, [
                at(
                    doc,
                    (*ws.resource_field, "instanceType"),
                    f"no node pool of cluster {cluster.name} has instance type "
                    f"{ws.instance_type!r}{did_you_mean(ws.instance_type, known)}; "
                    f"pools: {listing}",
                    code="fit",
                )
            ]
        return pools, []
    name = ws.annotation("pool")
    if name:
        pool = cluster.pool(name)
        if pool is None:
            names = [p.name for p in cluster.node_pools]
            return None, [
                at(
                    doc,
                    ("metadata", "annotations", "modelsync.dev/pool"),
                    f"cluster {cluster.name} has no node pool {name!r}{did_you_mean(name, names)}",
                    code="fit",
                )
            ]
        return [pool], []
    return None, []


def _blocked(ws: Placeable, pool: NodePool) -> str:
    taints = untolerated_taints(pool, ws)
    if taints:
        listed = ", ".join(
            f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}" for t in taints
        )
        return f"its taints {listed} are not tolerated (add tolerations)"
    clashes = [
        key
        for key, value in ws.node_selector.items()
        if key in pool.labels and pool.labels[key] != value
    ]
    if clashes:
        return "nodeSelector " + ", ".join(
            f"{k}={ws.node_selector[k]} clashes with the pool's {k}={pool.labels[k]}"
            for k in clashes
        )
    missing = unsatisfiable(pool, ws.node_selector)
    if missing:
        return "Karpenter would create no node with nodeSelector " + "; ".join(missing)
    return ""


def _size(
    ws: Workspace, preset: Preset, cluster: Cluster, pool: NodePool, pool_gpu: tuple[str, float]
) -> tuple[Placement | None, str]:
    gpu, memory = pool_gpu
    if ws.tuning is not None:
        sections = sections_of(ws.tuning.config) if isinstance(ws.tuning.config, dict) else {}
        lora = sections.get("LoraConfig") or {}
        args = sections.get("TrainingArguments") or {}
        dataset = sections.get("DatasetConfig") or {}
        targets = lora.get("target_modules")
        tuning = size_tuning(
            preset,
            method=ws.tuning.method,
            gpu_memory_gib=memory,
            gpus_per_node=pool.gpus_per_node,
            rank=int(lora.get("r", 8)),
            target_modules=tuple(targets) if isinstance(targets, list) else None,
            batch_size=int(args.get("per_device_train_batch_size", 1)),
            seq_len=int(dataset.get("max_seq_length", min(2048, preset.context_length))),
        )
        if not tuning.fits:
            return None, tuning.reason
        lines = explain_tuning(preset, pool.name, gpu, ws.tuning.method, tuning)
        return Placement(pool, gpu, memory, 1, tuning.gpus, tuning=tuning, explain=tuple(lines)), ""
    length, share, sequences = inference_options(ws, cluster)
    sizing = size_inference(
        preset,
        gpu_memory_gib=memory,
        gpus_per_node=pool.gpus_per_node,
        gpu_memory_utilization=share,
        max_model_len=length,
        max_len_cap=cluster.max_model_len,
        sequences=sequences,
    )
    if not sizing.fits:
        group, minimum = size_group(
            preset,
            gpu_memory_gib=memory,
            gpus_per_node=pool.gpus_per_node,
            gpu_memory_utilization=share,
            max_model_len=length,
            max_len_cap=cluster.max_model_len,
            sequences=sequences,
            nodes=ws.count,
        )
        if not minimum:
            return None, sizing.reason
        if group is None:
            return None, (
                f"{TOO_FEW_NODES} of at least {minimum} nodes ({minimum} x "
                f"{pool.gpus_per_node} GPUs of {memory:g} GiB), but resource.count is "
                f"{ws.count}: set it to {minimum} or more"
            )
        lines = explain_inference(preset, pool.name, gpu, group)
        multi = Placement(
            pool,
            gpu,
            memory,
            1,
            group.tensor_parallel,
            inference=group,
            explain=tuple(lines),
            nodes=group.pipeline_parallel,
        )
        return multi, ""
    lines = explain_inference(preset, pool.name, gpu, sizing)
    placement = Placement(
        pool, gpu, memory, ws.count, sizing.gpus, inference=sizing, explain=tuple(lines)
    )
    return placement, ""


#: How a reason for a count below a multi-node group's minimum starts.
TOO_FEW_NODES = "needs more GPUs than one node has: a multi-node group"


def _group_note(ws: Workspace, placement: Placement) -> list[Finding]:
    """The info finding that says a Workspace became one multi-node group, and how."""
    sizing = placement.inference
    if placement.nodes == 1 or sizing is None:
        return []
    return [
        at(
            ws.document,
            (*ws.resource_field, "count"),
            f"the model needs more GPUs than one node of pool {placement.pool.name} has: "
            f"resource.count {placement.nodes} counts nodes of ONE multi-node server "
            f"(a LeaderWorkerSet of {placement.nodes} pods x {placement.gpus_per_replica} "
            f"GPUs; vLLM tensor-parallel {sizing.tensor_parallel} within a node, "
            f"pipeline-parallel {sizing.pipeline_parallel} across nodes), not replicas",
            code="multi-node",
            severity=Severity.INFO,
        )
    ]


def inference_options(ws: Workspace, cluster: Cluster) -> tuple[int | None, float, int]:
    """Explicit max model length, GPU memory share and concurrent sequences for sizing."""
    flags: Mapping[str, Any] = {}
    if ws.inference is not None and isinstance(ws.inference.config, dict):
        flags = ws.inference.config.get("vllm") or {}
    length_text = ws.annotation("max-model-len")
    length = int(length_text) if length_text else flags.get("max-model-len")
    share_text = ws.annotation("gpu-memory-utilization")
    share = float(share_text) if share_text else flags.get("gpu-memory-utilization")
    sequences_text = ws.annotation("max-concurrent-sequences")
    sequences = int(sequences_text) if sequences_text else cluster.max_concurrent_sequences
    return (
        length if isinstance(length, int) else None,
        float(share) if isinstance(share, int | float) else cluster.gpu_memory_utilization,
        sequences,
    )
