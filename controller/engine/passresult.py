"""What one reconcile pass did (``Syncer.run_pass`` returns it; the loop, the CLI, the
metrics and the status page read it). A value, no behaviour beyond what it derives.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.planning import Plan, Step
from controller.core.status import ActionResult, Event, WorkspaceStatus
from controller.core.validation import ClusterResult

NOT_LEADING = "this replica no longer holds the leader Lease"
DRIFT_MESSAGE = "live objects differ from the release manifest"


@dataclass(frozen=True)
class PassResult:
    cluster: str
    commit: str
    seconds: float
    skipped: str = ""  # why nothing was planned, when it was not (unchanged commit, ...)
    error: str = ""  # why the pass stopped early; the last good state stands
    report: ClusterResult | None = None
    plan: Plan | None = None
    results: tuple[ActionResult, ...] = ()
    waiting: tuple[Step, ...] = ()  # held back by backoff
    statuses: tuple[WorkspaceStatus, ...] = ()
    events: tuple[Event, ...] = ()
    fetch_seconds: float | None = None
    drifted: tuple[str, ...] = ()  # namespace/name of releases whose live objects drifted
    tried: str = ""  # the commit fetched, whether or not the pass got to apply it
    # (namespace, release) whose change from Git failed and has not succeeded since: a
    # rollback after the failure leaves it Ready, on the revision before the change.
    failing: frozenset[tuple[str, str]] = frozenset()

    @property
    def ok(self) -> bool:
        return not self.error and all(r.ok for r in self.results)

    @property
    def changed(self) -> int:
        return sum(1 for r in self.results if r.ok)
