"""Chart policy findings: the Git files that break the controller's policy, located.

Pure core, called by ``core/validation.py``: ``core/chartpolicy.py`` says what is refused,
this module pins each refusal to the field of the cluster file or Workspace that asks for
it. A cluster file whose chart values break the policy keeps its other checks, and only the
releases of that chart are held: each of its Workspaces gets a finding naming the cluster
file's line, so it is not applied, its release is kept, and nothing is pruned (an error in
the cluster file holds every prune, core/claims.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.core.chartpolicy import (
    INFERENCE_CHART,
    TUNING_CHART,
    ChartPolicy,
    repository_violation,
    values_violations,
    volume_violations,
)
from controller.core.findings import Finding, at
from controller.core.ragengines import RAGEngine
from controller.core.ragrelease import RAG_CHART
from controller.core.specs import Cluster, Workspace

CODE = "policy"
_CHARTS = (INFERENCE_CHART, TUNING_CHART, RAG_CHART)


def chart_of(ws: Workspace | RAGEngine) -> str:
    if isinstance(ws, RAGEngine):
        return RAG_CHART
    return TUNING_CHART if ws.tuning is not None else INFERENCE_CHART


def cluster_policy_findings(
    spec: Cluster, policy: ChartPolicy
) -> tuple[list[Finding], dict[str, Finding]]:
    """The cluster file's refused chart settings, and the first one refusing each chart."""
    doc, findings = spec.document, []
    refused: dict[str, Finding] = {}
    repository = str(spec.charts.get("repository") or "")
    why = repository_violation(repository, policy)
    if why is not None:
        finding = at(doc, ("spec", "charts", "repository"), why, code=CODE)
        findings.append(finding)
        refused = dict.fromkeys(_CHARTS, finding)
    values = spec.charts.get("values") or {}
    for chart in _CHARTS:
        chart_values = values.get(chart) if isinstance(values, Mapping) else None
        path = ("spec", "charts", "values", chart)
        for violation in values_violations(chart_values, policy, path):
            finding = at(doc, violation.path, violation.message, code=CODE, value=False)
            findings.append(finding)
            refused.setdefault(chart, finding)
    return findings, refused


def volume_findings(ws: Workspace, policy: ChartPolicy) -> list[Finding]:
    """The Workspace's own ``volumeSource`` fields of a type the policy refuses."""
    return [
        at(ws.document, v.path, v.message, code=CODE, value=False)
        for v in volume_violations(ws.document.body, policy)
    ]


def held_by_cluster(ws: Workspace | RAGEngine, refused: Mapping[str, Finding]) -> Finding | None:
    """A finding holding the Workspace when the cluster file's settings for its chart are
    refused: it names the cluster file's line, where the fix goes."""
    cause = refused.get(chart_of(ws))
    if cause is None:
        return None
    return at(
        ws.document,
        ("metadata", "name"),
        f"not applied: {cause.file}:{cause.line}: {cause.field}: {cause.message}",
        code=CODE,
    )
