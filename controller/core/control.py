"""Requests made through the API: the annotations ``modelsync reconcile|suspend|resume|reset``
set on a Workspace's ModelWorkspace object, and what a pass makes of them.

Pure, beside ``core/status.py``. The CLI writes the annotations (``*_patch``: JSON merge
patches), ``adapters/workspaceobjects.py`` reads them back into ``Control`` values, and
the engine applies them to a pass: a suspended object suspends its release (as the
Workspace's own ``modelsync.dev/suspend`` annotation does in Git), a new reset stamp
clears the release's retry count. Like Flux's ``reconcile.fluxcd.io/requestedAt``, a
request is a timestamp; the object's status says which stamp was handled last, so a
client can wait for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from controller.core.releases import DesiredRelease
from controller.core.status import WorkspaceStatus

GROUP = "modelsync.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "ModelWorkspace"
PLURAL = "modelworkspaces"

RECONCILE_AT = "modelsync.dev/reconcile-requested-at"
RESET_AT = "modelsync.dev/reset-requested-at"
SUSPEND = "modelsync.dev/suspend"
SUSPENDED_BY = "modelsync.dev/suspended-by"
SUSPEND_REASON = "modelsync.dev/suspend-reason"
SUSPENDED_AT = "modelsync.dev/suspended-at"
#: The annotations whose change wakes the controller.
REQUESTS = (RECONCILE_AT, RESET_AT, SUSPEND, SUSPENDED_BY, SUSPEND_REASON)

Key = tuple[str, str]


@dataclass(frozen=True)
class Control:
    """What the API asks of one Workspace, and which requests its status says were handled."""

    reconcile_at: str = ""
    reset_at: str = ""
    suspended: bool = False
    by: str = ""
    reason: str = ""
    at: str = ""
    handled_reconcile: str = ""
    handled_reset: str = ""

    @property
    def reset_pending(self) -> bool:
        return bool(self.reset_at) and self.reset_at != self.handled_reset

    @property
    def suspension(self) -> str:
        """How the status says who suspended it and why."""
        who = f" by {self.by}" if self.by else ""
        why = f": {self.reason}" if self.reason else ""
        return f"suspended{who}{why}"


def key_of(obj: Mapping[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def control_of(obj: Mapping[str, Any]) -> Control:
    """The requests on an object (missing or odd annotations are no request)."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    status = obj.get("status") or {}

    def text(mapping: Mapping[str, Any], name: str) -> str:
        value = mapping.get(name)
        return value if isinstance(value, str) else ""

    return Control(
        reconcile_at=text(annotations, RECONCILE_AT),
        reset_at=text(annotations, RESET_AT),
        suspended=text(annotations, SUSPEND) == "true",
        by=text(annotations, SUSPENDED_BY),
        reason=text(annotations, SUSPEND_REASON),
        at=text(annotations, SUSPENDED_AT),
        handled_reconcile=text(status, "lastHandledReconcileAt"),
        handled_reset=text(status, "lastHandledResetAt"),
    )


def requests_of(obj: Mapping[str, Any]) -> tuple[str, ...]:
    """The request annotations' values: when they change, a pass is due."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return tuple(str(annotations.get(name, "")) for name in REQUESTS)


def reconcile_patch(now: str) -> dict[str, Any]:
    return {"metadata": {"annotations": {RECONCILE_AT: now}}}


def reset_patch(now: str) -> dict[str, Any]:
    return {"metadata": {"annotations": {RESET_AT: now}}}


def suspend_patch(now: str, *, by: str, reason: str) -> dict[str, Any]:
    annotations = {SUSPEND: "true", SUSPENDED_BY: by, SUSPEND_REASON: reason, SUSPENDED_AT: now}
    return {"metadata": {"annotations": annotations}}


def resume_patch(now: str) -> dict[str, Any]:
    """Drop the suspension and ask for a pass at once (Flux's resume reconciles too)."""
    gone: dict[str, Any] = dict.fromkeys((SUSPEND, SUSPENDED_BY, SUSPEND_REASON, SUSPENDED_AT))
    return {"metadata": {"annotations": gone | {RECONCILE_AT: now}}}


def suspended_releases(
    desired: Sequence[DesiredRelease], controls: Mapping[Key, Control]
) -> list[DesiredRelease]:
    """The desired releases with those suspended through the API marked suspended."""
    return [
        replace(d, suspended=True) if controls.get(d.key, Control()).suspended else d
        for d in desired
    ]


def pending_resets(controls: Mapping[Key, Control]) -> list[Key]:
    return sorted(key for key, control in controls.items() if control.reset_pending)


def with_suspensions(
    rows: Iterable[WorkspaceStatus], controls: Mapping[Key, Control]
) -> list[WorkspaceStatus]:
    """Status rows that say who suspended a Workspace from the cluster, and why."""
    return [
        replace(row, message=controls[row.key].suspension)
        if row.suspended and row.key in controls and controls[row.key].suspended
        else row
        for row in rows
    ]


__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "RECONCILE_AT",
    "REQUESTS",
    "RESET_AT",
    "SUSPEND",
    "SUSPENDED_AT",
    "SUSPENDED_BY",
    "SUSPEND_REASON",
    "VERSION",
    "Control",
    "control_of",
    "key_of",
    "pending_resets",
    "reconcile_patch",
    "requests_of",
    "reset_patch",
    "resume_patch",
    "suspend_patch",
    "suspended_releases",
    "with_suspensions",
]
