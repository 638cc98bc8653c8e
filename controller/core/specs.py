"""Typed Workspace and Cluster specs, built from documents that passed their schemas.

Also the one normalisation modelsync does before validating: KAITO keeps ``resource``,
``inference`` and ``tuning`` at the top level beside ``metadata``, while many examples in
the wild nest them under ``spec:``. ``normalize_workspace`` lifts them up and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from controller.core.documents import Document, FieldPath, Span
from controller.core.findings import Finding, Severity, at

ANNOTATION_PREFIX = "modelsync.dev/"


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""
    seconds: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"operator": self.operator}
        if self.key:
            out["key"] = self.key
        if self.value and self.operator == "Equal":
            out["value"] = self.value
        if self.effect:
            out["effect"] = self.effect
        if self.seconds is not None:
            out["tolerationSeconds"] = self.seconds
        return out


@dataclass(frozen=True, slots=True)
class Taint:
    key: str
    effect: str
    value: str = ""

    def tolerated_by(self, toleration: Toleration) -> bool:
        """Kubernetes' rule (k8s.io/api/core/v1 Toleration.ToleratesTaint)."""
        if toleration.effect and toleration.effect != self.effect:
            return False
        if toleration.operator == "Exists":
            return not toleration.key or toleration.key == self.key
        return toleration.key == self.key and toleration.value == self.value


@dataclass(frozen=True)
class PresetRef:
    name: str
    access_mode: str = "public"
    image: str | None = None
    pull_secrets: tuple[str, ...] = ()
    access_secret: str | None = None


@dataclass(frozen=True)
class Adapter:
    name: str
    image: str | None
    volume_source: Mapping[str, Any] | None
    pull_secrets: tuple[str, ...]
    strength: str | None


@dataclass(frozen=True)
class Inference:
    preset: PresetRef | None
    config: str | Mapping[str, Any] | None
    adapters: tuple[Adapter, ...]
    #: KAITO's inference.template (a core/v1 PodTemplateSpec), served instead of a preset.
    template: Mapping[str, Any] | None = None

    @property
    def has_template(self) -> bool:
        return self.template is not None


@dataclass(frozen=True)
class Tuning:
    preset: PresetRef
    method: str
    config: str | Mapping[str, Any] | None
    input: Mapping[str, Any]
    output: Mapping[str, Any]


class Annotated:
    """modelsync's own annotations (``modelsync.dev/...``) of a Workspace or RAGEngine."""

    annotations: Mapping[str, str]

    @property
    def suspended(self) -> bool:
        return self.annotations.get(ANNOTATION_PREFIX + "suspend") == "true"

    def annotation(self, name: str) -> str | None:
        return self.annotations.get(ANNOTATION_PREFIX + name)


@dataclass(frozen=True)
class Workspace(Annotated):
    name: str
    namespace: str | None
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    instance_type: str | None
    label_selector: Mapping[str, Any]
    count: int
    preferred_nodes: tuple[str, ...]
    inference: Inference | None
    tuning: Tuning | None
    node_selector: Mapping[str, str]
    tolerations: tuple[Toleration, ...]
    document: Document = field(repr=False, compare=False)
    #: KAITO's resource.partition (GPU partitioning), as written.
    partition: Mapping[str, Any] = field(default_factory=dict)

    #: Where findings about the nodes it needs are located.
    resource_field: ClassVar[tuple[str, ...]] = ("resource",)

    @property
    def preset(self) -> PresetRef | None:
        if self.tuning is not None:
            return self.tuning.preset
        return self.inference.preset if self.inference else None

    @property
    def kind(self) -> str:
        return "tuning" if self.tuning is not None else "inference"


@dataclass(frozen=True)
class AutoProvision:
    """A pool whose nodes Karpenter creates on demand (``autoProvision`` in cluster.yaml)."""

    provider: str
    capacity_types: tuple[str, ...] = ("on-demand",)
    consolidate_after: str = "10m"
    expire_after: str = "Never"
    budgets: tuple[Mapping[str, Any], ...] = ({"nodes": "1"},)
    node_class: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NodePool:
    name: str
    gpu: str
    gpus_per_node: int
    nodes: int | None
    max_nodes: int | None
    instance_type: str | None
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    gpu_memory_gib: float | None = None
    auto_provision: AutoProvision | None = None

    @property
    def node_capacity(self) -> int:
        """Nodes the pool can hold: the fixed count, or the autoscaler's maximum."""
        return self.nodes if self.nodes is not None else (self.max_nodes or 0)


@dataclass(frozen=True)
class Cluster:
    name: str
    namespaces: tuple[str, ...]
    default_namespace: str
    gpu_memory_utilization: float
    max_concurrent_sequences: int
    max_model_len: int | None
    node_pools: tuple[NodePool, ...]
    target: Mapping[str, Any]
    charts: Mapping[str, Any]
    model_cache: Mapping[str, Any]
    document: Document = field(repr=False, compare=False)
    #: The HF token Secret for gated models whose Workspace names none (defaults.modelAccessSecret).
    model_access_secret: str | None = None

    def pool(self, name: str) -> NodePool | None:
        return next((p for p in self.node_pools if p.name == name), None)


_LIFTED = ("resource", "inference", "tuning", "nodeSelector", "tolerations")


def normalize_workspace(doc: Document) -> tuple[Document, list[Finding]]:
    """Lift fields nested under ``spec:`` to KAITO's top-level layout."""
    spec = doc.body.get("spec")
    if not isinstance(spec, dict):
        return doc, []
    clashes = [key for key in spec if key in doc.body]
    if clashes:
        return doc, [
            at(
                doc,
                ("spec", key),
                f"{key!r} is set both under spec and at the top level",
                code="layout",
            )
            for key in clashes
        ]
    body = {key: value for key, value in doc.body.items() if key != "spec"}
    body.update(spec)
    positions: dict[FieldPath, Span] = {}
    for path, where in doc.positions.items():
        if path[:1] == ("spec",) and len(path) > 1:
            positions[path[1:]] = where
        elif path[:1] != ("spec",):
            positions[path] = where
    lifted = ", ".join(key for key in spec if key in _LIFTED) or ", ".join(spec)
    note = at(
        doc,
        ("spec",),
        f"fields under spec ({lifted}) were read at the top level, KAITO's v1beta1 layout",
        code="normalized",
        severity=Severity.INFO,
    )
    return Document(doc.path, body, positions), [note]


def _preset_ref(raw: Mapping[str, Any]) -> PresetRef:
    options = raw.get("presetOptions", {})
    return PresetRef(
        name=raw["name"],
        access_mode=raw.get("accessMode", "public"),
        image=options.get("image"),
        pull_secrets=tuple(options.get("imagePullSecrets", ())),
        access_secret=options.get("modelAccessSecret"),
    )


def _toleration(raw: Mapping[str, Any]) -> Toleration:
    return Toleration(
        key=raw.get("key", ""),
        operator=raw.get("operator", "Equal"),
        value=raw.get("value", ""),
        effect=raw.get("effect", ""),
        seconds=raw.get("tolerationSeconds"),
    )


def workspace_from_document(doc: Document) -> Workspace:
    """A Workspace from a normalised document that passed the Workspace schema."""
    body = doc.body
    meta = body["metadata"]
    resource = body.get("resource", {})
    inference = None
    if "inference" in body:
        raw = body["inference"]
        inference = Inference(
            preset=_preset_ref(raw["preset"]) if "preset" in raw else None,
            config=raw.get("config"),
            adapters=tuple(
                Adapter(
                    name=a["source"]["name"],
                    image=a["source"].get("image"),
                    volume_source=a["source"].get("volumeSource"),
                    pull_secrets=tuple(a["source"].get("imagePullSecrets", ())),
                    strength=a.get("strength"),
                )
                for a in raw.get("adapters", ())
            ),
            template=raw.get("template"),
        )
    tuning = None
    if "tuning" in body:
        raw = body["tuning"]
        tuning = Tuning(
            preset=_preset_ref(raw["preset"]),
            method=str(raw["method"]).lower(),  # KAITO lowercases it too
            config=raw.get("config"),
            input=raw["input"],
            output=raw["output"],
        )
    return Workspace(
        name=meta["name"],
        namespace=meta.get("namespace"),
        labels=meta.get("labels", {}),
        annotations=meta.get("annotations", {}),
        instance_type=resource.get("instanceType"),
        label_selector=resource.get("labelSelector", {}),
        count=resource.get("count", 1),
        preferred_nodes=tuple(resource.get("preferredNodes", ())),
        inference=inference,
        tuning=tuning,
        node_selector=body.get("nodeSelector", {}),
        tolerations=tuple(_toleration(t) for t in body.get("tolerations", ())),
        document=doc,
        partition=resource.get("partition", {}),
    )


def cluster_from_document(doc: Document) -> Cluster:
    """A Cluster from a document that passed the Cluster schema."""
    spec = doc.body["spec"]
    defaults = spec.get("defaults", {})
    default_namespace = defaults.get("namespace", "default")
    return Cluster(
        name=doc.body["metadata"]["name"],
        namespaces=tuple(spec.get("namespaces", (default_namespace,))),
        default_namespace=default_namespace,
        gpu_memory_utilization=float(defaults.get("gpuMemoryUtilization", 0.9)),
        max_concurrent_sequences=int(defaults.get("maxConcurrentSequences", 1)),
        max_model_len=defaults.get("maxModelLen"),
        model_cache=defaults.get("modelCache", {}),
        model_access_secret=defaults.get("modelAccessSecret"),
        target=spec.get("target", {}),
        charts=spec.get("charts", {}),
        node_pools=tuple(
            NodePool(
                name=p["name"],
                gpu=p["gpu"],
                gpus_per_node=p["gpusPerNode"],
                gpu_memory_gib=p.get("gpuMemoryGiB"),
                nodes=p.get("nodes"),
                max_nodes=p.get("maxNodes"),
                instance_type=p.get("instanceType"),
                labels=p.get("labels", {}),
                taints=tuple(
                    Taint(t["key"], t["effect"], t.get("value", "")) for t in p.get("taints", ())
                ),
                auto_provision=_auto_provision(p.get("autoProvision")),
            )
            for p in spec["nodePools"]
        ),
        document=doc,
    )


def _auto_provision(raw: Mapping[str, Any] | None) -> AutoProvision | None:
    if raw is None:
        return None
    defaults = AutoProvision(raw["provider"])
    return AutoProvision(
        provider=raw["provider"],
        capacity_types=tuple(raw.get("capacityTypes", defaults.capacity_types)),
        consolidate_after=raw.get("consolidateAfter", defaults.consolidate_after),
        expire_after=raw.get("expireAfter", defaults.expire_after),
        budgets=tuple(raw.get("disruptionBudgets", defaults.budgets)),
        node_class=raw.get("nodeClass", {}),
    )
