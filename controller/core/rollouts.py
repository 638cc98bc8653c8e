"""How the rollout of a commit went: success, failure or pending, from one pass.

Pure, beside ``status``. ``rollout_of`` reads a pass's Workspace rows (and its failed
actions, and why it stopped) and says how the commit it applied stands, in words short
enough for a GitHub commit status (140 characters). ``RolloutMemory`` says whether that
is news: the same commit in the same state is reported once, so a notification goes out
when a commit is first applied and when its state changes (pending -> success once the
pods are up), not on every pass.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from controller.core.problems import FAILED_REASONS
from controller.core.status import ActionResult, WorkspaceStatus

__all__ = ["Failure", "Rollout", "RolloutMemory", "RolloutState", "rollout_of"]

GITHUB_DESCRIPTION = 140
_UNDONE = "the change failed; the release runs its previous revision until a retry works"


class RolloutState(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    PENDING = "pending"


@dataclass(frozen=True)
class Failure:
    """One Workspace (or pruned release) that failed, with its file and reason."""

    namespace: str
    workspace: str
    file: str
    reason: str
    message: str


@dataclass(frozen=True)
class Rollout:
    cluster: str
    commit: str
    state: RolloutState
    description: str
    ready: int = 0
    total: int = 0
    failures: tuple[Failure, ...] = ()


def rollout_of(
    cluster: str,
    commit: str,
    statuses: Sequence[WorkspaceStatus],
    results: Sequence[ActionResult] = (),
    *,
    error: str = "",
    failing: Collection[tuple[str, str]] = (),
) -> Rollout:
    """How ``commit`` stands after a pass: failed when the pass stopped on it (``error``),
    when a Workspace is invalid or its release failed (``failing``: releases whose change
    failed and has not succeeded since, rolled back or waiting to retry); pending while a
    release is still coming up; else success. Suspended Workspaces count as neither."""
    if error:
        return Rollout(cluster, commit, RolloutState.FAILURE, _short(f"not applied: {error}"))
    failures = [
        Failure(s.namespace, s.name, s.file, s.reason, s.message)
        for s in statuses
        if s.reason == "ValidationFailed" or s.reason in FAILED_REASONS
    ]
    # Running, but on the revision before the change: the commit did not roll out.
    failures += [
        Failure(s.namespace, s.name, s.file, "ChangeFailed", _UNDONE)
        for s in statuses
        if s.key in failing and s.reason not in FAILED_REASONS
    ]
    failures += [
        Failure(r.step.namespace, r.step.workspace, "", "UninstallFailed", r.message)
        for r in results
        if not r.ok and r.step.desired is None
    ]
    counted = [s for s in statuses if not s.suspended]
    ready = sum(1 for s in counted if s.ready == "True")
    total = len(counted)
    if failures:
        first = failures[0]
        state = RolloutState.FAILURE
        description = f"{len(failures)} failed; {first.workspace}: {first.reason}: {first.message}"
    elif ready < total:
        state = RolloutState.PENDING
        description = f"{ready} of {total} Workspaces ready; waiting for the rest"
    else:
        state = RolloutState.SUCCESS
        description = f"{total} Workspace{'s' if total != 1 else ''} ready"
    return Rollout(cluster, commit, state, _short(description), ready, total, tuple(failures))


def _short(text: str) -> str:
    return text if len(text) <= GITHUB_DESCRIPTION else text[: GITHUB_DESCRIPTION - 3] + "..."


@dataclass
class RolloutMemory:
    """The last (commit, state) reported."""

    _last: tuple[str, RolloutState] | None = field(default=None)

    def news(self, rollout: Rollout) -> bool:
        key = (rollout.commit, rollout.state)
        if key == self._last:
            return False
        self._last = key
        return True
