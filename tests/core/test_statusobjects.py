"""ModelWorkspace objects in pure code: requests parsed from annotations, kstatus conditions
from a status row, transition times kept, and which objects go when Workspaces leave Git."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from controller.core.control import (
    RECONCILE_AT,
    RESET_AT,
    SUSPEND,
    SUSPENDED_BY,
    Control,
    control_of,
    requests_of,
    resume_patch,
    suspend_patch,
    suspended_releases,
    with_suspensions,
)
from controller.core.planning import Action, Plan, ReleaseState, Step
from controller.core.releases import DesiredRelease
from controller.core.status import ActionResult, WorkspaceStatus
from controller.core.statusobjects import ObjectSource, endpoint, object_status, stale

NOW = "2026-12-01T10:00:00Z"
ROW = WorkspaceStatus("lab", "ml", "phi", "phi", "clusters/lab/phi.yaml", "True", "InSync", "")
SOURCE = ObjectSource("ml", "phi", "phi", "clusters/lab/phi.yaml", model="phi-4", pool="a10")


def release(**values: Any) -> DesiredRelease:
    return DesiredRelease(
        "phi", "ml", "lab", "phi", "workspace-inference", "0.3.0", values, "d" * 16, "phi.yaml"
    )


def obj(annotations: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"metadata": {"annotations": annotations}, "status": status or {}}


def conditions(status: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_requests_are_read_from_annotations_and_the_status_says_what_was_handled() -> None:
    control = control_of(
        obj(
            {RECONCILE_AT: "t2", RESET_AT: "r1", SUSPEND: "true", SUSPENDED_BY: "alice"},
            {"lastHandledReconcileAt": "t1", "lastHandledResetAt": "r1"},
        )
    )
    assert (control.reconcile_at, control.handled_reconcile) == ("t2", "t1")
    assert control.suspended
    assert not control.reset_pending  # r1 was handled
    assert control.suspension == "suspended by alice"
    assert control_of(obj({RESET_AT: "r2"}, {"lastHandledResetAt": "r1"})).reset_pending


@pytest.mark.parametrize("odd", [{SUSPEND: "yes"}, {SUSPEND: True}, {RECONCILE_AT: 5}, {}])
def test_odd_or_missing_annotations_are_no_request(odd: dict[str, Any]) -> None:
    assert control_of(obj(odd)) == Control()
    assert control_of({}) == Control()


def test_resume_drops_the_suspension_and_asks_for_a_pass() -> None:
    suspended = suspend_patch("t0", by="bob", reason="quota")["metadata"]["annotations"]
    resumed = resume_patch("t1")["metadata"]["annotations"]
    assert {k for k, v in resumed.items() if v is None} == set(suspended)
    assert resumed[RECONCILE_AT] == "t1"
    assert requests_of(obj(suspended)) != requests_of(obj({}))


def test_a_suspension_from_the_cluster_suspends_the_release_and_says_who_and_why() -> None:
    controls = {("ml", "phi"): Control(suspended=True, by="alice", reason="GPU maintenance")}
    [desired] = suspended_releases([release()], controls)
    assert desired.suspended
    assert suspended_releases([release()], {}) == [release()]
    row = replace(ROW, suspended=True, reason="Suspended", message="reconciliation suspended")
    [shown] = with_suspensions([row], controls)
    assert shown.message == "suspended by alice: GPU maintenance"
    assert with_suspensions([row], {}) == [row]  # suspended in Git: the row says so already


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (
            ROW,
            {
                "Ready": ("True", "InSync"),
                "Reconciling": ("False", "Idle"),
                "Stalled": ("False", "NotStalled"),
            },
        ),
        (
            replace(ROW, ready="Unknown", reason="Progressing", message="waiting"),
            {
                "Ready": ("Unknown", "Progressing"),
                "Reconciling": ("True", "Progressing"),
                "Stalled": ("False", "NotStalled"),
            },
        ),
        (
            replace(ROW, ready="False", reason="UpgradeFailed", failures=2),
            {
                "Ready": ("False", "UpgradeFailed"),
                "Reconciling": ("True", "Progressing"),
                "Stalled": ("False", "NotStalled"),
            },
        ),
        (
            replace(ROW, ready="False", reason="RetriesExceeded", stalled=True),
            {
                "Ready": ("False", "RetriesExceeded"),
                "Reconciling": ("False", "Idle"),
                "Stalled": ("True", "RetriesExceeded"),
            },
        ),
        (
            replace(ROW, ready="Unknown", reason="Suspended", suspended=True),
            {
                "Ready": ("Unknown", "Suspended"),
                "Reconciling": ("False", "Idle"),
                "Stalled": ("False", "NotStalled"),
            },
        ),
    ],
)
def test_kstatus_conditions_follow_the_row(
    row: WorkspaceStatus, expected: dict[str, tuple[str, str]]
) -> None:
    status = object_status(row, SOURCE, generation=3, control=None, previous={}, now=NOW)
    assert conditions(status) == expected
    assert status["observedGeneration"] == 3
    assert all(c["observedGeneration"] == 3 for c in status["conditions"])


def test_transition_times_are_kept_while_a_condition_keeps_its_status() -> None:
    first = object_status(ROW, SOURCE, generation=1, control=None, previous={}, now=NOW)
    later = "2026-12-01T11:00:00Z"
    again = object_status(ROW, SOURCE, generation=1, control=None, previous=first, now=later)
    assert again == first  # nothing changed: nothing to write
    failed = replace(ROW, ready="False", reason="UpgradeFailed", since=later)
    moved = object_status(failed, SOURCE, generation=1, control=None, previous=first, now=later)
    times = {c["type"]: c["lastTransitionTime"] for c in moved["conditions"]}
    assert times == {"Ready": later, "Reconciling": later, "Stalled": NOW}


def test_the_status_carries_the_release_and_the_handled_requests() -> None:
    source = replace(SOURCE, release=release(service={"port": 8000}), gpus=2)
    control = Control(reconcile_at="t1", reset_at="r1", suspended=True, by="al", at="t0")
    status = object_status(
        replace(ROW, revision=4, commit="abc"),
        source,
        generation=1,
        control=control,
        previous={},
        now=NOW,
    )
    assert status["endpoint"] == "http://phi.ml.svc:8000/v1"
    assert (status["revision"], status["lastAppliedCommit"], status["gpus"]) == (4, "abc", 2)
    assert (status["chart"], status["chartVersion"]) == ("workspace-inference", "0.3.0")
    assert status["suspended"] == {"by": "al", "reason": "", "at": "t0"}
    assert (status["lastHandledReconcileAt"], status["lastHandledResetAt"]) == ("t1", "r1")
    tuning = replace(release(), chart="workspace-tuning")
    assert endpoint(release()) == "http://phi.ml.svc/v1"
    assert endpoint(tuning) == ""


def _step(name: str, action: Action, state: ReleaseState) -> Step:
    return Step(action, state, "ml", name, "")


def test_objects_go_only_with_their_release() -> None:
    live = [("ml", n) for n in ("kept", "gone", "held", "refused", "failed", "never")]
    steps = (
        _step("kept", Action.NONE, ReleaseState.IN_SYNC),
        _step("gone", Action.UNINSTALL, ReleaseState.ORPHANED),
        _step("held", Action.NONE, ReleaseState.HELD),
        _step("refused", Action.NONE, ReleaseState.ORPHANED),  # a refused prune
        _step("failed", Action.UNINSTALL, ReleaseState.ORPHANED),
    )
    results = [ActionResult(steps[1], True), ActionResult(steps[4], False, "timeout")]
    assert stale(live, [("ml", "kept")], Plan(steps), results) == [("ml", "gone"), ("ml", "never")]
