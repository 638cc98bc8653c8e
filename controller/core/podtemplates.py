"""Custom pod templates (KAITO ``inference.template``): what is checked, and what they ask for.

Pure. A Workspace with a template is served as written by the inference chart instead of
a preset: ``checks`` reports it (and the preset-only fields beside it) through
``template_findings``, and ``placement`` gives the pod the GPUs ``template_gpus`` counts,
without sizing. The template's structure is checked by the Workspace schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.core.findings import Finding, Severity, at
from controller.core.specs import Workspace

GPU_RESOURCE = "nvidia.com/gpu"


def template_findings(ws: Workspace) -> list[Finding]:
    """A custom pod template is served as written: KAITO's rules, and a note that sizing is off."""
    doc = ws.document
    assert ws.inference is not None
    if ws.inference.preset is not None:
        return [
            at(
                doc,
                ("inference", "template"),
                "set inference.preset or inference.template, not both",
                code="kind",
            )
        ]
    unused = [
        at(
            doc,
            ("inference", key),
            f"inference.{key} configures the preset's vLLM server; a custom pod template "
            "serves its own containers, so it would be ignored",
            code="template",
            value=False,
        )
        for key in ("adapters", "config")
        if key in doc.body["inference"]
    ]
    return [
        *unused,
        at(
            doc,
            ("inference", "template"),
            "custom pod template: its containers are served as written and GPU sizing is "
            "skipped (the pod gets the GPUs its containers request)",
            code="template",
            severity=Severity.INFO,
        ),
    ]


def template_gpus(template: Mapping[str, Any] | None) -> int:
    """GPUs a pod template's containers ask for (limits, else requests, of nvidia.com/gpu)."""
    spec = (template or {}).get("spec") or {}
    total = 0
    for container in spec.get("containers") or ():
        resources = container.get("resources") or {}
        amount = (resources.get("limits") or {}).get(GPU_RESOURCE)
        if amount is None:
            amount = (resources.get("requests") or {}).get(GPU_RESOURCE, 0)
        total += int(amount) if str(amount).isdigit() else 0
    return total
