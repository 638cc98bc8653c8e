"""Desired releases: what Helm release each valid Workspace and RAGEngine should be.

Workspace + preset + placement + cluster (a RAGEngine: ragrelease.py's values) -> release
name, namespace, chart, version, values (docs/contracts.md sections 2 and 4) and a digest
of chart version + values. The digest is recorded on the release as a label, so "is this
release up to date?" is a string comparison, with no rendering and no cluster round-trip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.core.chartpolicy import INFERENCE_CHART, TUNING_CHART
from controller.core.claims import source_id
from controller.core.placement import Placement, inference_options
from controller.core.ragengines import RAGEngine
from controller.core.ragrelease import RAG_CHART, rag_values
from controller.core.specs import Cluster, Workspace
from controller.core.trainingconfig import default_config, merge, sections_of
from controller.core.validation import ClusterResult
from controller.core.workspacefile import WorkspaceResult

#: Helm's limit on release names (it stores them in Secret names and labels).
MAX_RELEASE_NAME = 53

LABEL_MANAGED_BY = "modelsync.dev/managed-by"
LABEL_CLUSTER = "modelsync.dev/cluster"
LABEL_WORKSPACE = "modelsync.dev/workspace"
LABEL_DIGEST = "modelsync.dev/digest"
LABEL_SOURCE = "modelsync.dev/source"
MANAGER = "modelsync"
#: Karpenter neither consolidates nor drifts away a node that runs a pod with this annotation.
DO_NOT_DISRUPT = "karpenter.sh/do-not-disrupt"

#: Inline vLLM flags that map to chart values rather than extraArgs.
_VALUE_FLAGS = frozenset({"max-model-len", "gpu-memory-utilization", "dtype", "max-num-seqs"})


@dataclass(frozen=True)
class DesiredRelease:
    name: str
    namespace: str
    cluster: str
    workspace: str
    chart: str
    chart_version: str
    values: Mapping[str, Any]
    digest: str
    source: str
    suspended: bool = False
    #: The cluster file's chart source (allowed by the controller's policy); "" = the
    #: controller's own (bundled, or its configured repository).
    repository: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.name)

    @property
    def labels(self) -> dict[str, str]:
        return {
            LABEL_MANAGED_BY: MANAGER,
            LABEL_CLUSTER: self.cluster,
            LABEL_WORKSPACE: self.workspace,
            LABEL_DIGEST: self.digest,
            LABEL_SOURCE: source_id(self.source),
        }


def release_name(workspace: str) -> str:
    """The Workspace name, or when over Helm's limit, a prefix plus a hash of the whole."""
    if len(workspace) <= MAX_RELEASE_NAME:
        return workspace
    suffix = hashlib.sha256(workspace.encode()).hexdigest()[:8]
    return f"{workspace[: MAX_RELEASE_NAME - 9].rstrip('-')}-{suffix}"


def values_digest(chart: str, version: str, values: Mapping[str, Any], repository: str = "") -> str:
    # The source counts only when named, so releases from the controller's own charts keep
    # the digests they were applied with.
    where = {"repository": repository} if repository else {}
    payload = json.dumps(
        {"chart": chart, "version": version, "values": values} | where,
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def desired_releases(
    result: ClusterResult, chart_versions: Mapping[str, str]
) -> list[DesiredRelease]:
    """One release per valid, placed Workspace and per valid RAGEngine of the cluster."""
    cluster = result.cluster
    if cluster is None:
        return []
    return [desired_release(w, cluster, chart_versions) for w in result.workspaces if w.placed]


def desired_release(
    result: WorkspaceResult, cluster: Cluster, chart_versions: Mapping[str, str]
) -> DesiredRelease:
    ws, placement, preset = result.workspace, result.placement, result.preset
    if isinstance(ws, RAGEngine):
        ours = rag_values(ws, placement, result.inference, cluster.name)
        ours["affinity"] = _affinity(ws)
        if placement is not None and placement.pool.auto_provision is not None:
            ours["podAnnotations"] = {DO_NOT_DISRUPT: "true"}
        return _release(result, ws, cluster, chart=RAG_CHART, ours=ours, versions=chart_versions)
    assert ws is not None
    assert placement is not None
    chart = TUNING_CHART if ws.tuning is not None else INFERENCE_CHART
    if ws.inference is not None and ws.inference.template is not None:
        ours = _placement_values(ws, cluster, placement) | _template_values(ws, placement)
        return _release(result, ws, cluster, chart=chart, ours=ours, versions=chart_versions)
    assert preset is not None
    # The Workspace's own secret wins; the cluster default covers gated models in KAITO files
    # that name none (and only those: other namespaces need not hold the secret).
    default_secret = cluster.model_access_secret if preset.gated else None
    access_secret = (ws.preset.access_secret if ws.preset else None) or default_secret or ""
    model = {
        "preset": preset.name,
        "huggingFaceId": preset.huggingface_id,
        "revision": preset.revision,
        "weightBytes": preset.weight_bytes,
        "accessSecret": access_secret,
    }
    if ws.inference is not None:
        model["servedModelName"] = preset.name
    common = {"model": model} | _placement_values(ws, cluster, placement)
    image = ws.preset.image if ws.preset else None
    if image:
        common["image"] = _image(image)
    if ws.tuning is not None:
        ours = common | _tuning_values(ws, preset.target_modules)
    else:
        ours = common | _inference_values(ws, cluster, placement, preset.vllm_extra_args)
    return _release(result, ws, cluster, chart=chart, ours=ours, versions=chart_versions)


def _release(
    result: WorkspaceResult,
    ws: Workspace | RAGEngine,
    cluster: Cluster,
    *,
    chart: str,
    ours: Mapping[str, Any],
    versions: Mapping[str, str],
) -> DesiredRelease:
    """The release of ``chart`` with modelsync's values over the cluster's for that chart."""
    version = (
        ws.annotation("chart-version")
        or str(cluster.charts.get("version") or "")
        or (versions[chart])
    )
    values = deep_merge(cluster.charts.get("values", {}).get(chart, {}), ours)
    repository = str(cluster.charts.get("repository") or "")
    return DesiredRelease(
        name=release_name(ws.name),
        namespace=result.namespace,
        cluster=cluster.name,
        workspace=ws.name,
        chart=chart,
        chart_version=version,
        values=values,
        digest=values_digest(chart, version, values, repository),
        source=result.path,
        suspended=ws.suspended,
        repository=repository,
    )


def _placement_values(ws: Workspace, cluster: Cluster, placement: Placement) -> dict[str, Any]:
    common: dict[str, Any] = {
        "workspace": {"name": ws.name, "cluster": cluster.name},
        "resources": {"gpus": placement.gpus_per_replica},
        "pool": _pool(placement),
        "nodeSelector": dict(ws.node_selector),
        "affinity": _affinity(ws),
        "tolerations": [t.as_dict() for t in ws.tolerations],
    }
    if placement.pool.auto_provision is not None:
        # Karpenter then neither consolidates nor drifts the node away under a running
        # server or training Job (it still honours expireAfter, which defaults to Never).
        common["podAnnotations"] = {DO_NOT_DISRUPT: "true"}
    return common


def _template_values(ws: Workspace, placement: Placement) -> dict[str, Any]:
    """A custom pod template (KAITO inference.template): served as written, not sized."""
    assert ws.inference is not None
    assert ws.inference.template is not None
    return {
        "model": {"preset": "", "huggingFaceId": "custom-pod-template", "weightBytes": 0},
        "replicaCount": placement.replicas,
        "modelCache": {"type": "emptyDir"},
        "podTemplate": plain(ws.inference.template),
    }


def plain(value: Any) -> Any:
    """Values as plain dicts and lists (what JSON, YAML dumpers and the Helm SDK take)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` on top of ``base``, mappings merged key by key (as Helm merges values)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _pool(placement: Placement) -> dict[str, Any]:
    pool = placement.pool
    return {
        "name": pool.name,
        "labels": dict(pool.labels),
        "taints": [
            {"key": t.key, "effect": t.effect} | ({"value": t.value} if t.value else {})
            for t in pool.taints
        ],
    }


def _affinity(ws: Workspace | RAGEngine) -> dict[str, Any]:
    """KAITO's labelSelector and preferredNodes as preferred (not required) node affinity.

    modelsync does not provision nodes, so the pool's own labels (nodeSelector) decide
    where pods may run; the selector then prefers the nodes KAITO's labels describe.
    """
    preferences = []
    expressions = [
        {"key": key, "operator": "In", "values": [value]}
        for key, value in sorted(ws.label_selector.get("matchLabels", {}).items())
    ] + [dict(e) for e in ws.label_selector.get("matchExpressions", [])]
    if expressions:
        preferences.append({"weight": 100, "preference": {"matchExpressions": expressions}})
    if ws.preferred_nodes:
        preferences.append(
            {
                "weight": 50,
                "preference": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/hostname",
                            "operator": "In",
                            "values": list(ws.preferred_nodes),
                        }
                    ]
                },
            }
        )
    if not preferences:
        return {}
    return {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferences}}


def _image(reference: str) -> dict[str, str]:
    name, _, digest = reference.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        repository, tag = name[:colon], name[colon + 1 :]
    else:
        repository, tag = name, ""
    return {"repository": repository, "tag": f"{tag}@{digest}" if digest else tag}


def _pull_secrets(*groups: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for group in groups:
        seen.update(dict.fromkeys(group))
    return list(seen)


def _flag(name: str, value: Any) -> str:
    if value is True:
        return f"--{name}"
    if value is False:
        return f"--no-{name}"
    return f"--{name}={value}"


def _inference_values(
    ws: Workspace, cluster: Cluster, placement: Placement, preset_args: Sequence[str]
) -> dict[str, Any]:
    assert ws.inference is not None
    assert placement.inference is not None
    _, share, _ = inference_options(ws, cluster)
    config = ws.inference.config
    flags: Mapping[str, Any] = (config.get("vllm") or {}) if isinstance(config, Mapping) else {}
    ref = ws.inference.preset
    adapters = [
        {"name": a.name}
        | ({"image": a.image} if a.image else {})
        | ({"volumeSource": dict(a.volume_source)} if a.volume_source else {})
        for a in ws.inference.adapters
    ]
    return {
        "imagePullSecrets": _pull_secrets(
            ref.pull_secrets if ref else (), *(a.pull_secrets for a in ws.inference.adapters)
        ),
        "replicaCount": placement.replicas,
        "vllm": {
            "tensorParallelSize": placement.inference.tensor_parallel,
            "maxModelLen": placement.inference.max_model_len,
            "gpuMemoryUtilization": share,
            "dtype": ws.annotation("dtype") or str(flags.get("dtype", "auto")),
            "maxNumSeqs": int(flags.get("max-num-seqs", 0)),
            "extraArgs": [
                *preset_args,
                *(_flag(k, v) for k, v in sorted(flags.items()) if k not in _VALUE_FLAGS),
            ],
            "configMap": config if isinstance(config, str) else "",
        },
        "adapters": adapters,
        "modelCache": _model_cache(cluster, placement),
    } | _multi_node(placement)


def _multi_node(placement: Placement) -> dict[str, Any]:
    """The group size of a multi-node server; nothing for one node, so the values (and the
    digest) of every single-node release stay what they were before multi-node serving."""
    return {"multiNode": {"nodes": placement.nodes}} if placement.nodes > 1 else {}


def _model_cache(cluster: Cluster, placement: Placement) -> dict[str, Any]:
    """The cluster's persistent model cache, for single-replica, single-node servers only.

    Each server pod needs its own ReadWriteOnce claim; with several replicas (or the pods of
    a multi-node group) a shared PVC would pin them all to one node, so they download into
    an emptyDir instead.
    """
    cache = cluster.model_cache
    if not cache or placement.replicas > 1 or placement.nodes > 1:
        return {"type": "emptyDir"}
    return {"type": "persistentVolumeClaim"} | {
        key: str(cache[key]) for key in ("size", "storageClass") if key in cache
    }


def _tuning_values(ws: Workspace, target_modules: tuple[str, ...]) -> dict[str, Any]:
    tuning = ws.tuning
    assert tuning is not None
    inline = sections_of(tuning.config) if isinstance(tuning.config, Mapping) else {}
    source = {k: v for k, v in tuning.input.items() if k in ("urls", "image", "volumeSource")}
    return {
        "method": tuning.method,
        "imagePullSecrets": _pull_secrets(
            tuning.preset.pull_secrets, tuning.input.get("imagePullSecrets", ())
        ),
        "trainingConfig": merge(default_config(tuning.method, target_modules), inline),
        "trainingConfigMap": tuning.config if isinstance(tuning.config, str) else "",
        "input": source,
        "output": {
            k: v
            for k, v in tuning.output.items()
            if k in ("image", "imagePushSecret", "volumeSource")
        },
    }
