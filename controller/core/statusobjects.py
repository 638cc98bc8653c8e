"""ModelWorkspace objects: one per Workspace, what the cluster shows of a pass.

Pure, after ``core/status.py``: from the validation report and the desired releases
(``sources``) and a pass's status rows (``object_status``) to the bodies that
``adapters/workspaceobjects.py`` applies. The status is kstatus-compatible: ``Ready``,
``Reconciling`` and ``Stalled`` conditions (each with a reason, a message and a transition
time kept while its status stays) and ``observedGeneration``; so ``kubectl wait
--for=condition=Ready``, Argo CD and Flux health checks read it as they read any
controller's. ``stale`` says which objects go: those of Workspaces that left Git, once
their release has gone too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.core.control import API_VERSION, KIND, Control
from controller.core.planning import Action, Plan
from controller.core.ragengines import RAGEngine
from controller.core.releases import (
    LABEL_CLUSTER,
    LABEL_MANAGED_BY,
    LABEL_WORKSPACE,
    MANAGER,
    DesiredRelease,
    release_name,
)
from controller.core.specs import Workspace
from controller.core.status import ActionResult, WorkspaceStatus
from controller.core.validation import ClusterResult

Key = tuple[str, str]
#: What the API server takes as a namespaced object's name (DNS-1123 subdomain).
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


@dataclass(frozen=True)
class ObjectSource:
    """What Git says of one Workspace's object: its spec copy and what it was sized to."""

    namespace: str
    name: str
    workspace: str
    file: str
    body: Mapping[str, Any] = field(default_factory=dict)
    release: DesiredRelease | None = None
    model: str = ""
    pool: str = ""
    gpus: int = 0

    @property
    def key(self) -> Key:
        return (self.namespace, self.name)


def sources(report: ClusterResult, desired: Sequence[DesiredRelease]) -> dict[Key, ObjectSource]:
    """An object source per Workspace whose name the API server accepts."""
    releases = {d.key: d for d in desired}
    found: dict[Key, ObjectSource] = {}
    for result in report.workspaces:
        ws = result.workspace
        if ws is None or not ws.name:
            continue
        name = release_name(ws.name)
        if not _NAME.match(name) or not _NAME.match(result.namespace or ""):
            continue
        placement = result.placement
        source = ObjectSource(
            namespace=result.namespace,
            name=name,
            workspace=ws.name,
            file=result.path,
            body=ws.document.body,
            release=releases.get((result.namespace, name)),
            model=_model(ws),
            pool=placement.pool.name if placement else "",
            gpus=placement.gpus if placement else 0,
        )
        found[source.key] = source
    return found


def _model(ws: Workspace | RAGEngine) -> str:
    if isinstance(ws, RAGEngine):  # a RAG engine's model is its embedding model
        return ws.embedding_model or ""
    return ws.preset.name if ws.preset else ""


def object_spec(source: ObjectSource, cluster: str) -> dict[str, Any]:
    """The object as the controller applies it: labels and the spec copy, no status."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": source.name,
            "namespace": source.namespace,
            "labels": {
                LABEL_MANAGED_BY: MANAGER,
                LABEL_CLUSTER: cluster,
                LABEL_WORKSPACE: _label(source.workspace),
            },
        },
        "spec": {"cluster": cluster, "file": source.file, "workspace": dict(source.body)},
    }


def endpoint(release: DesiredRelease) -> str:
    """The in-cluster OpenAI-compatible URL of an inference release ("" for tuning)."""
    if release.chart != "workspace-inference":
        return ""
    service = release.values.get("service")
    port = service.get("port", 80) if isinstance(service, Mapping) else 80
    suffix = "" if port == 80 else f":{port}"
    return f"http://{release.name}.{release.namespace}.svc{suffix}/v1"


def object_status(
    row: WorkspaceStatus,
    source: ObjectSource,
    *,
    generation: int,
    control: Control | None,
    previous: Mapping[str, Any],
    now: str,
) -> dict[str, Any]:
    """The status of ``source``'s object after a pass; ``previous`` is its live status."""
    status: dict[str, Any] = {
        "observedGeneration": generation,
        "conditions": _conditions(row, generation, previous, now),
        "release": row.release or source.name,
        "model": source.model,
        "pool": source.pool,
        "gpus": source.gpus,
        "failures": row.failures,
    }
    if row.revision:
        status["revision"] = row.revision
    if row.commit:
        status["lastAppliedCommit"] = row.commit
    release = source.release
    if release is not None:
        status |= {
            "chart": release.chart,
            "chartVersion": release.chart_version,
            "valuesDigest": release.digest,
        }
        if url := endpoint(release):
            status["endpoint"] = url
    if control is not None:
        if control.suspended:
            status["suspended"] = {"by": control.by, "reason": control.reason, "at": control.at}
        if control.reconcile_at:
            status["lastHandledReconcileAt"] = control.reconcile_at
        if control.reset_at:
            status["lastHandledResetAt"] = control.reset_at
    return status


def _conditions(
    row: WorkspaceStatus, generation: int, previous: Mapping[str, Any], now: str
) -> list[dict[str, Any]]:
    """Ready, Reconciling and Stalled as kstatus reads them: Reconciling while the change
    is on its way (applied and pods not up yet, or failed and to be retried), Stalled when
    it will not get there without a change in Git or a reset."""
    reconciling = not row.stalled and not row.suspended and row.ready != "True"
    wanted = [
        ("Ready", row.ready, row.reason or "Unknown", row.message),
        (
            "Reconciling",
            str(reconciling),
            "Progressing" if reconciling else "Idle",
            row.message if reconciling else "",
        ),
        (
            "Stalled",
            str(row.stalled),
            row.reason if row.stalled else "NotStalled",
            row.message if row.stalled else "",
        ),
    ]
    before = {c.get("type"): c for c in previous.get("conditions") or [] if isinstance(c, Mapping)}
    out = []
    for kind, state, reason, message in wanted:
        old = before.get(kind) or {}
        since = old.get("lastTransitionTime") if old.get("status") == state else None
        if kind == "Ready" and row.since and not since:
            since = row.since
        out.append(
            {
                "type": kind,
                "status": state,
                "reason": reason,
                "message": message,
                "lastTransitionTime": since or now,
                "observedGeneration": generation,
            }
        )
    return out


def stale(
    live: Collection[Key],
    current: Collection[Key],
    plan: Plan,
    results: Sequence[ActionResult],
) -> list[Key]:
    """Live objects no Workspace in Git names, whose release is gone: this pass uninstalled
    it, or the plan has no release of that name. A release the plan keeps (a refused
    prune, a Workspace an invalid file may still define, a failed uninstall) keeps its
    object."""
    uninstalled = {
        (r.step.namespace, r.step.name)
        for r in results
        if r.ok and r.step.action is Action.UNINSTALL
    }
    planned = {(s.namespace, s.name) for s in plan.steps}
    return sorted(
        key for key in live if key not in current and (key in uninstalled or key not in planned)
    )


def _label(value: str) -> str:
    """A label value (at most 63 characters)."""
    return value[:63].rstrip("-._")


__all__ = ["ObjectSource", "endpoint", "object_spec", "object_status", "sources", "stale"]
