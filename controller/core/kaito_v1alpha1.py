"""``kaito.sh/v1alpha1`` Workspaces, read as the ``kaito.sh/v1beta1`` ones they convert to.

Pure; the first step for a Workspace document, before ``specs.normalize_workspace``.
KAITO still serves v1alpha1 (api/v1alpha1/workspace_types.go, August 2026). Its fields
are v1beta1's with three differences, which this conversion applies:

- ``resource.instanceType`` defaults to ``Standard_NC24ads_A100_v4`` in v1alpha1's CRD
  (``+kubebuilder:default``); v1beta1 has no default. A v1alpha1 file without one is read
  with that default, as KAITO's API server would store it.
- v1alpha1 has no ``presetOptions.modelAccessSecret`` and no ``resource.partition``: a
  v1alpha1 file that sets them is refused there, as KAITO's structural schema would not
  keep them.
- The version itself: the converted document says ``kaito.sh/v1beta1``, and an info
  finding on ``apiVersion`` says it was converted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from controller.core.documents import Document
from controller.core.findings import Finding, Severity, at

V1ALPHA1 = "kaito.sh/v1alpha1"
V1BETA1 = "kaito.sh/v1beta1"
#: v1alpha1's CRD default for resource.instanceType.
DEFAULT_INSTANCE_TYPE = "Standard_NC24ads_A100_v4"


def convert_v1alpha1(doc: Document) -> tuple[Document, list[Finding]]:
    """``doc`` as v1beta1 when it is a v1alpha1 Workspace (else unchanged), and findings."""
    if doc.body.get("apiVersion") != V1ALPHA1:
        return doc, []
    findings = [
        at(doc, (*base, field), f"{field} is not a kaito.sh/v1alpha1 field", code="schema")
        for base, field in _v1beta1_only(doc)
    ]
    body = dict(doc.body, apiVersion=V1BETA1)
    notes = [f"read as {V1BETA1}"]
    spec = body.get("spec")
    layout: dict[str, Any] = spec if isinstance(spec, dict) else body
    resource = layout.get("resource")
    if isinstance(resource, dict) and "instanceType" not in resource:
        resource = dict(resource, instanceType=DEFAULT_INSTANCE_TYPE)
        layout = dict(layout, resource=resource)
        body = dict(body, spec=layout) if "spec" in body else layout
        notes.append(f"resource.instanceType defaults to {DEFAULT_INSTANCE_TYPE} as in v1alpha1")
    findings.append(
        at(
            doc,
            ("apiVersion",),
            f"{V1ALPHA1} Workspace {'; '.join(notes)}",
            code="converted",
            severity=Severity.INFO,
        )
    )
    return replace(doc, body=body), findings


def _v1beta1_only(doc: Document) -> list[tuple[tuple[str, ...], str]]:
    spec = doc.body.get("spec")
    prefix: tuple[str, ...] = ("spec",) if isinstance(spec, dict) else ()
    layout = spec if isinstance(spec, dict) else doc.body
    found: list[tuple[tuple[str, ...], str]] = []
    resource = layout.get("resource")
    if isinstance(resource, dict) and "partition" in resource:
        found.append(((*prefix, "resource"), "partition"))
    for kind in ("inference", "tuning"):
        section = layout.get(kind)
        preset = section.get("preset") if isinstance(section, dict) else None
        options = preset.get("presetOptions") if isinstance(preset, dict) else None
        if isinstance(options, dict) and "modelAccessSecret" in options:
            found.append(((*prefix, kind, "preset", "presetOptions"), "modelAccessSecret"))
    return found
