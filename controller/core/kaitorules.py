"""KAITO's admission rules that a schema cannot say: what KAITO's webhook would refuse.

Pure, called by ``checks.check_workspace``. Read from KAITO's ``api/v1beta1``
``workspace_validation.go`` and ``labels.go`` (August 2026), not copied: the values its
``kaito.sh/*`` annotations may take, image references it cannot parse, GPU partitioning
(``resource.partition``) and label selectors it cannot turn into node labels. Each rule
gives a finding located at the field at fault; a Workspace KAITO refuses is refused here.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from controller.core.documents import FieldPath
from controller.core.findings import Finding, Severity, at, did_you_mean
from controller.core.imagerefs import image_problem
from controller.core.specs import Workspace

KAITO_PREFIX = "kaito.sh/"
#: kaito.sh/ annotations and the values KAITO accepts (None: any string).
KAITO_ANNOTATIONS: Mapping[str, tuple[str, ...] | None] = {
    "kaito.sh/runtime": None,  # "vllm" or "transformers"; KAITO falls back to vllm
    "kaito.sh/enablelb": None,
    "kaito.sh/bypass-resource-checks": None,  # its presence counts, not its value
    "kaito.sh/node-image-family": ("azurelinux", "ubuntu"),  # trimmed, any case
    "kaito.sh/node-class-name": None,  # one of the operator's --karpenter-node-classes
    "kaito.sh/disable-benchmark": None,
    "kaito.sh/performance-mode": ("balanced", "interactivity", "throughput"),
    "kaito.sh/use-local-weights": ("true", "false"),
    "kaito.sh/model-streaming": None,
    "kaito.sh/streaming-service-account": None,
    "kaito.sh/model-mirror-storage-class": None,
}
#: Labels KAITO sets on what it manages; a selector of only these would match every node.
RESERVED_SELECTOR_LABELS = frozenset(
    {
        "kaito.sh/workspace",
        "kaito.sh/ragengine",
        "kaito.sh/workspacenamespace",
        "kaito.sh/ragenginenamespace",
        "karpenter.kaito.sh/workspace-name",
        "karpenter.kaito.sh/workspace-namespace",
        "karpenter.kaito.sh/inferenceset",
        "karpenter.kaito.sh/inferenceset-namespace",
    }
)


def kaito_findings(ws: Workspace) -> list[Finding]:
    """Every KAITO admission rule ``ws`` breaks (and notes on what modelsync reads otherwise)."""
    return [
        *_status_findings(ws),
        *_annotation_findings(ws),
        *_adapter_findings(ws),
        *_image_findings(ws),
        *_selector_findings(ws),
        *_partition_findings(ws),
    ]


def _status_findings(ws: Workspace) -> Iterator[Finding]:
    if "status" in ws.document.body:
        yield at(
            ws.document,
            ("status",),
            "status is written by the KAITO operator; modelsync ignores it",
            code="status",
            severity=Severity.INFO,
            value=False,
        )


def _adapter_findings(ws: Workspace) -> Iterator[Finding]:
    adapters = ws.document.body.get("inference", {}).get("adapters") or ()
    for i, adapter in enumerate(adapters):
        if "urls" in (adapter.get("source") or {}):
            yield at(
                ws.document,
                ("inference", "adapters", i, "source", "urls"),
                "URLs are not an adapter source: use image or volumeSource (as KAITO requires)",
                code="adapters",
                value=False,
            )


def _annotation_findings(ws: Workspace) -> Iterator[Finding]:
    doc = ws.document
    for key, value in ws.annotations.items():
        if not key.startswith(KAITO_PREFIX):
            continue
        path = ("metadata", "annotations", key)
        if key not in KAITO_ANNOTATIONS:
            yield at(
                doc,
                path,
                f"unknown KAITO annotation {key!r}{did_you_mean(key, KAITO_ANNOTATIONS)}; "
                "KAITO ignores it",
                code="annotation",
                severity=Severity.WARNING,
                value=False,
            )
            continue
        allowed = KAITO_ANNOTATIONS[key]
        read = value.strip().lower() if key == "kaito.sh/node-image-family" else value
        if allowed is not None and read not in allowed:
            choices = ", ".join(repr(a) for a in allowed)
            yield at(
                doc,
                path,
                f"{value!r} is not a valid {key}; choose one of {choices}"
                + did_you_mean(value, allowed),
                code="annotation",
            )
    if ws.annotations.get("kaito.sh/runtime") == "transformers":
        yield at(
            doc,
            ("metadata", "annotations", "kaito.sh/runtime"),
            "modelsync serves every model with vLLM; the transformers runtime is not used",
            code="annotation",
            severity=Severity.WARNING,
        )


def image_fields(body: Mapping[str, Any]) -> Iterator[tuple[FieldPath, Any]]:
    """Every image reference a Workspace body names, with its path."""
    for kind in ("inference", "tuning"):
        section = body.get(kind)
        if not isinstance(section, Mapping):
            continue
        preset = section.get("preset")
        options = preset.get("presetOptions") if isinstance(preset, Mapping) else None
        if isinstance(options, Mapping) and "image" in options:
            yield (kind, "preset", "presetOptions", "image"), options["image"]
        adapters = section.get("adapters") if kind == "inference" else None
        for i, adapter in enumerate(adapters if isinstance(adapters, list) else []):
            source = adapter.get("source") if isinstance(adapter, Mapping) else None
            if isinstance(source, Mapping) and "image" in source:
                yield (kind, "adapters", i, "source", "image"), source["image"]
        for part in ("input", "output") if kind == "tuning" else ():
            data = section.get(part)
            if isinstance(data, Mapping) and "image" in data:
                yield (kind, part, "image"), data["image"]


def _image_findings(ws: Workspace) -> Iterator[Finding]:
    for path, reference in image_fields(ws.document.body):
        problem = image_problem(reference) if isinstance(reference, str) else None
        if problem is not None:
            yield at(
                ws.document,
                path,
                f"image {reference!r} {problem}; KAITO cannot parse it",
                code="image",
            )


def _selector_findings(ws: Workspace) -> Iterator[Finding]:
    doc, selector = ws.document, ws.label_selector
    base = ("resource", "labelSelector")
    labels = selector.get("matchLabels") or {}
    if labels and all(key in RESERVED_SELECTOR_LABELS for key in labels):
        yield at(
            doc,
            (*base, "matchLabels"),
            "matchLabels must hold at least one label KAITO does not reserve "
            f"({', '.join(sorted(RESERVED_SELECTOR_LABELS & set(labels)))} are its own)",
            code="selector",
        )
    for i, expression in enumerate(selector.get("matchExpressions") or ()):
        values = expression.get("values") or []
        if expression.get("operator") != "In" or len(values) != 1:
            yield at(
                doc,
                (*base, "matchExpressions", i),
                "KAITO reads a labelSelector as node labels: a matchExpression must be "
                "'In' with exactly one value",
                code="selector",
            )


def _partition_findings(ws: Workspace) -> Iterator[Finding]:
    partition = ws.partition
    if not partition:
        return
    doc, base = ws.document, ("resource", "partition")
    if ws.tuning is not None:
        yield at(doc, base, "GPU partitioning is not supported for tuning", code="partition")
        return
    if ws.instance_type:
        yield at(
            doc,
            ("resource", "instanceType"),
            "resource.partition runs on existing (BYO) nodes only: leave instanceType empty "
            "and name the nodes with labelSelector",
            code="partition",
        )
    mode = partition.get("mode")
    if mode == "mig":
        yield at(
            doc,
            (*base, "mode"),
            "MIG slices are not scheduled by modelsync: its node pools hand out whole GPUs; "
            "use mode accelerator or no partition",
            code="partition",
        )
    elif mode == "accelerator":
        if "profile" in partition:
            message = "profile is not valid for accelerator mode"
            yield at(doc, (*base, "profile"), message, code="partition")
        if "count" not in partition:
            yield at(doc, base, "accelerator mode needs partition.count", code="partition")
        else:
            yield at(
                doc,
                (*base, "count"),
                "modelsync sizes the GPUs of each replica from the model (validate --explain "
                "shows them); partition.count is not used",
                code="partition",
                severity=Severity.INFO,
            )
