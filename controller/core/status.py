"""Status a person can read: per-Workspace conditions and Kubernetes-style events.

Pure functions from what one pass saw and did (the validation report, the plan and the
results of its actions) to ``WorkspaceStatus`` rows and ``Event``s. The conditions follow
Kubernetes conventions (Ready, Reconciling, Stalled; CamelCase reasons) so that the table,
``/status`` and the Events all say the same thing. Time is passed in; nothing here reads a
clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from controller.core.planning import Action, Plan, ReleaseState, Step
from controller.core.releases import release_name
from controller.core.validation import ClusterResult


class Condition(StrEnum):
    READY = "Ready"
    RECONCILING = "Reconciling"
    STALLED = "Stalled"


@dataclass(frozen=True)
class ActionResult:
    """What carrying out one step did."""

    step: Step
    ok: bool
    message: str = ""
    revision: int | None = None
    retryable: bool = True
    seconds: float = 0.0


@dataclass(frozen=True)
class WorkloadState:
    """What the cluster says of a release's Deployment or Job, where the target can see it.

    ``conditions`` carries KAITO's Workspace conditions where they are observable:
    ResourceReady and InferenceReady for a server, JobStarted and WorkspaceSucceeded for
    a tuning Job.
    """

    kind: str
    ready: bool | None
    message: str = ""
    conditions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to record against a Workspace's release."""

    namespace: str
    name: str
    reason: str
    message: str
    warning: bool = False


@dataclass(frozen=True)
class WorkspaceStatus:
    cluster: str
    namespace: str
    name: str
    release: str
    file: str
    ready: str  # "True", "False" or "Unknown"
    reason: str
    message: str
    revision: int | None = None
    suspended: bool = False
    commit: str = ""
    stalled: bool = False
    since: str = ""  # last transition of Ready
    failures: int = 0
    extra: Mapping[str, str] = field(default_factory=dict)  # KAITO conditions where observed
    kind: str = ""  # inference | tuning; "" when the file did not parse

    @property
    def key(self) -> tuple[str, str]:
        return (self.namespace, self.release or self.name)

    def conditions(self) -> list[dict[str, str]]:
        items = [
            {
                "type": Condition.READY,
                "status": self.ready,
                "reason": self.reason,
                "message": self.message,
                "lastTransitionTime": self.since,
            },
            {"type": Condition.STALLED, "status": str(self.stalled), "reason": self.reason},
        ]
        items += [{"type": name, "status": value} for name, value in sorted(self.extra.items())]
        return items


_SUCCEEDED = {
    Action.INSTALL: "InstallSucceeded",
    Action.UPGRADE: "UpgradeSucceeded",
    Action.ROLLBACK: "RollbackSucceeded",
    Action.UNINSTALL: "UninstallSucceeded",
    Action.REINSTALL: "InstallSucceeded",
}
_FAILED = {
    Action.INSTALL: "InstallFailed",
    Action.UPGRADE: "UpgradeFailed",
    Action.ROLLBACK: "RollbackFailed",
    Action.UNINSTALL: "UninstallFailed",
    Action.REINSTALL: "InstallFailed",
}


def event_for(result: ActionResult) -> Event:
    step = result.step
    if step.state is ReleaseState.ORPHANED and result.ok:
        reason, message = "Pruned", f"uninstalled: {step.reason}"
    elif result.ok:
        reason = _SUCCEEDED[step.action]
        message = f"{step.action} succeeded" + (
            f" (revision {result.revision})" if result.revision else ""
        )
    else:
        reason, message = _FAILED[step.action], f"{step.action} failed: {result.message}"
    return Event(step.namespace, step.name, reason, message, warning=not result.ok)


def summarize(
    cluster: ClusterResult,
    plan: Plan,
    results: Sequence[ActionResult],
    *,
    commit: str,
    now: str,
    previous: Mapping[tuple[str, str], WorkspaceStatus],
    stall_after: int = 5,
    workloads: Mapping[tuple[str, str], WorkloadState] | None = None,
    given_up: Mapping[tuple[str, str], int] | None = None,
) -> list[WorkspaceStatus]:
    """One row per Workspace of the cluster (valid or not) after a pass.

    Where ``workloads`` knows a release's Deployment or Job, Ready follows it: an applied
    release whose pods are not up yet is Progressing, not Ready. ``given_up`` are releases
    whose change failed too often to retry (with the failure count): Stalled.
    """
    by_key = {(r.step.namespace, r.step.name): r for r in results}
    steps = {(s.namespace, s.name): s for s in plan.steps}
    rows: list[WorkspaceStatus] = []
    for result in cluster.workspaces:
        ws = result.workspace
        errors = [f for f in result.findings if f.is_error]
        if ws is None and not errors:
            continue  # another kind, ignored (a ConfigMap beside a Workspace): no row
        if ws is None or errors:
            first = errors[0]
            text = f"{first.file}:{first.line}: {first.message}"
            name = ws.name if ws is not None and ws.name else result.path
            rows.append(
                _carry(
                    previous,
                    WorkspaceStatus(
                        cluster.name,
                        result.namespace,
                        name,
                        "",
                        result.path,
                        "False",
                        "ValidationFailed",
                        text,
                        stalled=True,
                    ),
                    now,
                )
            )
            continue
        key = (result.namespace, release_name(ws.name))
        step = steps.get(key)
        done = by_key.get(key)
        row = _row(
            cluster.name,
            result.path,
            ws.name,
            key,
            step=step,
            done=done,
            commit=commit,
            before=previous.get(key),
            stall_after=stall_after,
        )
        row = replace(row, kind=ws.kind)
        workload = (workloads or {}).get(key)
        if workload is not None and row.ready == "True":
            row = _with_workload(row, workload)
        if key in (given_up or {}):
            failures = (given_up or {})[key]
            row = replace(
                row,
                ready="False",
                reason="RetriesExceeded",
                stalled=True,
                failures=failures,
                message=f"the change failed {failures} times and was not retried "
                "again; the release runs the last working revision until "
                "the Workspace changes in Git",
            )
        rows.append(_carry(previous, row, now))
    return rows


def _row(
    cluster: str,
    path: str,
    workspace: str,
    key: tuple[str, str],
    *,
    step: Step | None,
    done: ActionResult | None,
    commit: str,
    before: WorkspaceStatus | None,
    stall_after: int,
) -> WorkspaceStatus:
    namespace, release = key
    base = WorkspaceStatus(
        cluster, namespace, workspace, release, path, "Unknown", "Progressing", "", commit=commit
    )
    revision = step.observed.revision if step and step.observed else None
    if step is None:
        return replace(base, reason="Unplaced", message="no release planned")
    if done is not None:
        if done.ok:
            return replace(
                base,
                ready="True",
                reason=_SUCCEEDED[step.action],
                message=f"{step.action} succeeded",
                revision=done.revision or revision,
            )
        failures = (before.failures if before else 0) + 1
        return replace(
            base,
            ready="False",
            reason=_FAILED[step.action],
            message=done.message,
            revision=revision,
            failures=failures,
            stalled=failures >= stall_after,
            commit=before.commit if before else "",
        )
    if step.state is ReleaseState.SUSPENDED:
        return replace(
            base,
            ready=before.ready if before else "Unknown",
            reason="Suspended",
            message="reconciliation suspended",
            suspended=True,
            revision=revision,
            commit=before.commit if before else "",
        )
    if step.state is ReleaseState.IN_SYNC:
        applied = step.observed.commit if step.observed else ""
        kept = applied or (before.commit if before and before.ready == "True" else commit)
        return replace(
            base,
            ready="True",
            reason="InSync",
            message="release matches Git",
            revision=revision,
            commit=kept,
        )
    if step.state is ReleaseState.FOREIGN:
        return replace(
            base, ready="False", reason="ReleaseConflict", message=step.reason, stalled=True
        )
    if step.action is not Action.NONE and before is not None:  # held back, e.g. by backoff
        return replace(before, reason=before.reason, message=before.message or step.reason)
    return replace(base, message=step.reason, revision=revision)


def _with_workload(row: WorkspaceStatus, workload: WorkloadState) -> WorkspaceStatus:
    extra = dict(workload.conditions)
    if workload.ready:
        return replace(row, extra=extra)
    ready = "Unknown" if workload.ready is None else "False"
    message = workload.message or f"waiting for the {workload.kind}"
    return replace(row, ready=ready, reason="Progressing", message=message, extra=extra)


_APPLIED = frozenset(
    {"InSync", "InstallSucceeded", "UpgradeSucceeded", "RollbackSucceeded", "Progressing"}
)


def refreshed(
    rows: Sequence[WorkspaceStatus],
    workloads: Mapping[tuple[str, str], WorkloadState],
    now: str,
) -> list[WorkspaceStatus]:
    """Readiness re-read between passes: applied releases follow their Deployment or Job."""
    out = []
    for row in rows:
        workload = workloads.get(row.key)
        if workload is None or row.reason not in _APPLIED or row.suspended:
            out.append(row)
            continue
        base = row
        if row.reason == "Progressing":
            base = replace(row, reason="InSync", message="release matches Git")
        new = _with_workload(replace(base, ready="True"), workload)
        out.append(replace(new, since=row.since if new.ready == row.ready else now))
    return out


def _carry(
    previous: Mapping[tuple[str, str], WorkspaceStatus], row: WorkspaceStatus, now: str
) -> WorkspaceStatus:
    """Keep Ready's last transition time unless Ready changed."""
    before = previous.get(row.key)
    if before is not None and before.ready == row.ready and before.since:
        return replace(row, since=before.since)
    return replace(row, since=now)


def validation_events(
    report: ClusterResult, previous: dict[tuple[str, str], WorkspaceStatus]
) -> list[Event]:
    """ValidationFailed once per newly invalid file (not on every pass)."""
    seen = {s.file for s in previous.values() if s.reason == "ValidationFailed"}
    events = []
    for result in report.workspaces:
        errors = [f for f in result.findings if f.is_error]
        if errors and result.path not in seen:
            first = errors[0]
            name = result.workspace.name if result.workspace and result.workspace.name else ""
            events.append(
                Event(
                    result.namespace or "default",
                    name or result.path,
                    "ValidationFailed",
                    f"{first.file}:{first.line}: {first.message}",
                    warning=True,
                )
            )
    return events
