"""The controller loop: passes on a jittered interval, at once on a webhook, leader only.

One thread runs passes (one concurrency model: plain threads and an ``Event`` as the work
queue; a pass already handles every Workspace, so triggers coalesce into the next pass).
A failed pass is retried sooner, backing off exponentially up to the interval. Stopping
lets the pass in flight finish; nothing is interrupted half-applied.

What the loop hands out (``/status``, Events, metrics text) passes through
``core.redaction`` with the process's secrets first: whatever message carried a
credential, none of those exits shows it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Protocol

from controller import __version__
from controller.core.capacity import Assignment
from controller.core.planning import Action, ReleaseState, Step
from controller.core.problems import Problem, ProblemMemory, problems, unsettled
from controller.core.redaction import redact, redact_data
from controller.core.status import Event
from controller.engine.metrics import Metrics
from controller.engine.sync import PassResult, Syncer

if TYPE_CHECKING:
    from controller.engine.notifications import Notifier

log = logging.getLogger(__name__)


def _remediation(step: Step) -> bool:
    return step.state in (ReleaseState.FAILED, ReleaseState.STUCK) and step.action in (
        Action.ROLLBACK,
        Action.UNINSTALL,
    )


_PROBLEM_TEXT = {
    "invalid": "invalid Workspace %s/%s: %s",
    "held": "not pruning %s/%s: %s",
    "failed": "release %s/%s failed: %s",
}


def _fields(problem: Problem, result: PassResult) -> dict[str, str]:
    return {
        "cluster": result.cluster,
        "namespace": problem.namespace,
        "workspace": problem.workspace,
        "file": problem.file,
        "commit": result.commit,
        "reason": problem.reason,
    }


class EventSink(Protocol):
    def record(self, events: Sequence[Event]) -> None: ...


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool: ...


@dataclass
class _Always:
    is_leader: bool = True


class Controller:
    """Runs a Syncer's passes until stopped."""

    def __init__(
        self,
        syncer: Syncer,
        *,
        interval: float = 60.0,
        jitter: float = 0.1,
        metrics: Metrics | None = None,
        events: EventSink | None = None,
        leadership: Leadership | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        secrets: Sequence[str] = (),
        notifier: Notifier | None = None,
    ) -> None:
        self.syncer = syncer
        self.notifier = notifier
        self._problems = ProblemMemory()
        self.secrets = tuple(secrets)
        self.interval = interval
        self.jitter = jitter
        self.metrics = metrics or Metrics()
        self.events = events
        self.leadership = leadership or _Always()
        self.clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._reasons: list[str] = []
        self._full = False
        self._thread: threading.Thread | None = None
        self.last: PassResult | None = None
        self.passes = 0
        self.heartbeat = clock()
        self._failures = 0

    # -- triggers --------------------------------------------------------------------

    def trigger(self, reason: str, *, full: bool = False) -> None:
        """Ask for a pass now (a webhook, a signal, a request through the API); triggers
        before it starts coalesce. ``full``: the pass reads Git even if no commit is new."""
        with self._lock:
            self._reasons.append(reason)
            self._full = self._full or full
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        if self.notifier is not None:
            self.notifier.start()
        self._thread = threading.Thread(target=self.run, name="modelsync-loop", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.notifier is not None:
            self.notifier.stop(timeout=5)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def run(self) -> None:
        first = True
        while not self._stop.is_set():
            if not first:
                self._wake.wait(self._delay())
            first = False
            self._wake.clear()
            if self._stop.is_set():
                break
            with self._lock:
                reasons, self._reasons = self._reasons, []
                full, self._full = self._full or "resync" in reasons, False
            self.heartbeat = self.clock()
            if not self.leadership.is_leader:
                self.metrics.standby()
                continue
            self.metrics.leader.set(1)
            self.run_once(full=full, reasons=reasons)

    def run_once(self, *, full: bool = False, reasons: Sequence[str] = ()) -> PassResult:
        if reasons:
            log.info("pass triggered by %s", ", ".join(reasons))
        try:
            # Leadership is checked again before every action, not only before the pass:
            # a leader paused past its Lease must not act after another took over.
            result = self.syncer.run_pass(full=full, may_act=lambda: self.leadership.is_leader)
        except Exception:  # a bug must not kill the loop; the next pass starts clean
            log.exception("reconcile pass crashed")
            result = PassResult(
                self.syncer.cluster,
                self.syncer.commit,
                0.0,
                error="internal error (see the controller log)",
            )
        self.last = result
        self.passes += 1
        self.heartbeat = self.clock()
        self._failures = self._failures + 1 if result.error else 0
        self.metrics.observe(result, now=self.clock())
        if self.events is not None and result.events:
            events = [replace(e, message=redact(e.message, self.secrets)) for e in result.events]
            try:
                self.events.record(events)
            except Exception:  # events are best effort
                log.exception("could not record events")
        self._log(result)
        self._report_problems(result)
        if self.notifier is not None:
            try:
                self.notifier.observe(result)
            except Exception:  # notifications are best effort
                log.exception("could not queue notifications")
        return result

    def _delay(self) -> float:
        base = self.interval
        if self._failures:
            base = min(self.interval, 5.0 * 2 ** (self._failures - 1))
        return max(0.0, base * (1 + self._rng.uniform(-self.jitter, self.jitter)))

    def _log(self, result: PassResult) -> None:
        if result.error:
            log.warning("pass failed after %.2fs: %s", result.seconds, result.error)
        elif result.skipped:
            log.debug("pass skipped (%s) in %.3fs", result.skipped, result.seconds)
        else:
            failed = sum(1 for r in result.results if not r.ok)
            # A rollback or uninstall after a failure undoes the change: not "applied".
            undone = sum(1 for r in result.results if r.ok and _remediation(r.step))
            log.info(
                "pass at %s: %d applied, %d undone after failing, %d failed, %d waiting, %.2fs",
                result.commit[:12],
                len(result.results) - failed - undone,
                undone,
                failed,
                len(result.waiting),
                result.seconds,
                extra={"cluster": result.cluster, "commit": result.commit},
            )

    def _report_problems(self, result: PassResult) -> None:
        """Log each invalid Workspace, held prune and failed release once (core.problems)."""
        if result.plan is None or result.error:
            return  # nothing was planned: every problem stands as it was
        found = problems(result.plan, result.results, result.statuses)
        keep = unsettled(result.statuses, result.waiting, result.failing)
        for problem in self._problems.news(found, keep=keep):
            log.warning(
                _PROBLEM_TEXT[problem.kind],
                problem.namespace,
                problem.workspace or problem.file,
                problem.message,
                extra=_fields(problem, result),
            )

    # -- what /status shows ------------------------------------------------------------

    def exposition(self) -> bytes:
        """The Prometheus metrics text, redacted."""
        text = self.metrics.exposition().decode()
        return redact(text, self.secrets).encode()

    def snapshot(self) -> dict[str, Any]:
        """What /status shows, every string redacted."""
        snapshot: dict[str, Any] = redact_data(self._snapshot(), self.secrets)
        return snapshot

    def _snapshot(self) -> dict[str, Any]:
        last = self.last
        return {
            "version": __version__,
            "cluster": self.syncer.cluster,
            "leader": self.leadership.is_leader,
            "passes": self.passes,
            "commit": self.syncer.commit,
            "lastPass": None
            if last is None
            else {
                "commit": last.commit,
                "seconds": round(last.seconds, 4),
                "error": last.error,
                "skipped": last.skipped,
                "applied": sum(1 for r in last.results if r.ok),
                "failed": sum(1 for r in last.results if not r.ok),
                "refusedPrune": last.plan.refused_prune if last.plan else "",
            },
            "workspaces": [
                {
                    "cluster": s.cluster,
                    "namespace": s.namespace,
                    "name": s.name,
                    "release": s.release,
                    "file": s.file,
                    "revision": s.revision,
                    "suspended": s.suspended,
                    "ready": s.ready,
                    "reason": s.reason,
                    "message": s.message,
                    "commit": s.commit,
                    "stalled": s.stalled,
                    "since": s.since,
                    "conditions": s.conditions(),
                    **_placement(self.syncer.assignments.get(s.key)),
                }
                for s in sorted(self.syncer.statuses.values(), key=lambda s: s.key)
            ],
            "pools": [
                {"name": p.name, "gpu": p.gpu, "usedGpus": p.used, "totalGpus": p.total}
                for p in self.syncer.pools
            ],
        }


def _placement(assignment: Assignment | None) -> dict[str, Any]:
    if assignment is None:
        return {"model": "", "pool": "", "gpus": None}
    return {"model": assignment.model, "pool": assignment.pool, "gpus": assignment.gpus}
