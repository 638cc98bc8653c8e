"""What an operator must hear about once: invalid Workspaces, held prunes, failed releases.

Pure, beside ``status``. ``problems`` lists them from what one pass planned and did (each with
its file and reason); ``ProblemMemory`` says which of them are news. A problem is news the
first time it shows, again when its reason changes, and again when it comes back after
a pass without it (fixed, then broken again). A problem that persists pass after pass is
not repeated: the controller's log stays readable, and ``/status`` holds the current state.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from controller.core.planning import Plan, ReleaseState, Step
from controller.core.releases import LABEL_SOURCE
from controller.core.status import ActionResult, WorkspaceStatus

__all__ = [
    "FAILED_REASONS",
    "Problem",
    "ProblemMemory",
    "problems",
    "unsettled",
]

#: Workspace status reasons that mean its release failed (status.py names them).
FAILED_REASONS = frozenset(
    {
        "InstallFailed",
        "UpgradeFailed",
        "RollbackFailed",
        "UninstallFailed",
        "RetriesExceeded",
        "ReleaseConflict",
    }
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong after a pass. ``reason`` is CamelCase; ``message`` says what."""

    kind: str  # invalid | held | failed
    namespace: str
    workspace: str
    file: str
    reason: str
    message: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.namespace, self.workspace or self.file)


def problems(
    plan: Plan,
    results: Sequence[ActionResult],
    statuses: Sequence[WorkspaceStatus],
) -> list[Problem]:
    """Every invalid Workspace file, held prune and failed release after a pass."""
    found = [
        Problem("invalid", s.namespace, s.name, s.file, s.reason, s.message)
        for s in statuses
        if s.reason == "ValidationFailed"
    ]
    found += [
        Problem("failed", s.namespace, s.name, s.file, s.reason, s.message)
        for s in statuses
        if s.reason in FAILED_REASONS
    ]
    # A failed prune has no Workspace (it left Git), hence no status row.
    found += [
        Problem(
            "failed",
            r.step.namespace,
            r.step.workspace,
            _source(r.step),
            "UninstallFailed",
            r.message,
        )
        for r in results
        if not r.ok and r.step.desired is None
    ]
    for step in plan.steps:
        if step.state is ReleaseState.HELD:
            found.append(
                Problem(
                    "held",
                    step.namespace,
                    step.workspace,
                    _holder_file(step.reason),
                    "PruneHeld",
                    step.reason,
                )
            )
        elif step.state is ReleaseState.ORPHANED and plan.refused_prune == step.reason:
            found.append(
                Problem(
                    "held",
                    step.namespace,
                    step.workspace,
                    _source(step),
                    "PruneRefused",
                    step.reason,
                )
            )
    return found


def unsettled(
    statuses: Sequence[WorkspaceStatus],
    waiting: Iterable[Step],
    failing: Collection[tuple[str, str]],
) -> set[tuple[str, str, str]]:
    """Keys of failed releases a pass did not settle: held back by their backoff, or
    rolled back after the failure (``failing``: their change has not succeeded since).
    Neither is fixed; the next attempt that fails the same way is no news."""
    keys = {("failed", s.namespace, s.workspace) for s in waiting}
    return keys | {("failed", s.namespace, s.name) for s in statuses if s.key in failing}


def _source(step: Step) -> str:
    return step.observed.labels.get(LABEL_SOURCE, "") if step.observed else ""


def _holder_file(reason: str) -> str:
    """The file named at the start of a hold's reason (``claims.Claims.holder`` starts
    every reason with it: ``path is invalid ...`` or ``path:line: message ...``)."""
    first = reason.split(" ", 1)[0]
    return first.split(":", 1)[0]


@dataclass
class ProblemMemory:
    """The problems already reported, by key, with the reason they were reported with."""

    _seen: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def news(
        self, current: Iterable[Problem], keep: Collection[tuple[str, str, str]] = ()
    ) -> list[Problem]:
        """The problems of ``current`` not yet reported with this reason. Keys missing from
        ``current`` are forgotten (fixed) unless in ``keep`` (not looked at this pass: a
        release waiting out its backoff)."""
        fresh: list[Problem] = []
        seen: dict[tuple[str, str, str], str] = {k: v for k, v in self._seen.items() if k in keep}
        for problem in current:
            said = f"{problem.reason}\n{problem.message}"
            if self._seen.get(problem.key) != said:
                fresh.append(problem)
            seen[problem.key] = said
        self._seen = seen
        return fresh
