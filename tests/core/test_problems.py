"""Invalid Workspaces, held prunes and failed releases: reported once, again when they change."""

from __future__ import annotations

from controller.core.planning import Action, ObservedRelease, Plan, ReleaseState, Step
from controller.core.problems import Problem, ProblemMemory, problems, unsettled
from controller.core.releases import LABEL_SOURCE, LABEL_WORKSPACE
from controller.core.status import ActionResult, WorkspaceStatus


def row(name: str, reason: str, message: str = "", ready: str = "False") -> WorkspaceStatus:
    return WorkspaceStatus("edge", "ml", name, name, f"clusters/edge/{name}.yaml", ready, reason,
                           message)  # fmt: skip


def observed(name: str) -> ObservedRelease:
    labels = {LABEL_WORKSPACE: name, LABEL_SOURCE: f"src-{name}"}
    return ObservedRelease(name, "ml", 1, "deployed", labels)


def test_each_kind_is_found_with_its_file_and_reason() -> None:
    held = Step(Action.NONE, ReleaseState.HELD, "ml", "old",
                "clusters/edge/bad.yaml is invalid and may define this Workspace; keeping "
                "the release", None, observed("old"))  # fmt: skip
    gone = Step(Action.UNINSTALL, ReleaseState.ORPHANED, "ml", "gone", "no longer in Git",
                None, observed("gone"))  # fmt: skip
    statuses = [
        row("bad", "ValidationFailed", "clusters/edge/bad.yaml:4: unknown field"),
        row("phi", "UpgradeFailed", "chart 9.9.9 is not bundled"),
        row("ok", "InSync", "release matches Git", ready="True"),
    ]
    found = problems(Plan((held, gone)), [ActionResult(gone, ok=False, message="boom")], statuses)
    assert [(p.kind, p.workspace, p.file, p.reason) for p in found] == [
        ("invalid", "bad", "clusters/edge/bad.yaml", "ValidationFailed"),
        ("failed", "phi", "clusters/edge/phi.yaml", "UpgradeFailed"),
        ("failed", "gone", "src-gone", "UninstallFailed"),
        ("held", "old", "clusters/edge/bad.yaml", "PruneHeld"),
    ]


def test_a_refused_prune_is_a_held_prune() -> None:
    refusal = "refusing to uninstall 3 of 4 releases in one pass"
    step = Step(Action.NONE, ReleaseState.ORPHANED, "ml", "a", refusal, None, observed("a"))
    [problem] = problems(Plan((step,), refused_prune=refusal), [], [])
    assert (problem.kind, problem.reason, problem.message) == ("held", "PruneRefused", refusal)


def test_pruning_switched_off_is_no_problem() -> None:
    step = Step(Action.NONE, ReleaseState.ORPHANED, "ml", "a", "no longer in Git; pruning is off",
                None, observed("a"))  # fmt: skip
    assert problems(Plan((step,)), [], []) == []


def invalid(reason: str = "ValidationFailed", message: str = "bad.yaml:4: nope") -> Problem:
    return Problem("invalid", "ml", "bad", "clusters/edge/bad.yaml", reason, message)


def test_a_problem_is_news_once_then_again_when_its_reason_changes() -> None:
    memory = ProblemMemory()
    assert memory.news([invalid()]) == [invalid()]
    assert memory.news([invalid()]) == []
    assert memory.news([invalid()]) == []
    changed = invalid(message="bad.yaml:7: another field")
    assert memory.news([changed]) == [changed]
    assert memory.news([changed]) == []


def test_fixed_then_broken_again_is_news_again() -> None:
    memory = ProblemMemory()
    assert memory.news([invalid()]) == [invalid()]
    assert memory.news([]) == []  # fixed
    assert memory.news([invalid()]) == [invalid()]


def test_a_release_waiting_out_its_backoff_is_not_forgotten() -> None:
    failed = Problem("failed", "ml", "gone", "", "UninstallFailed", "boom")
    memory = ProblemMemory()
    assert memory.news([failed]) == [failed]
    assert memory.news([], keep={failed.key}) == []  # not retried this pass
    assert memory.news([failed]) == []  # retried, failed the same way: already said


def test_releases_waiting_or_rolled_back_are_unsettled() -> None:
    waiting = Step(Action.UPGRADE, ReleaseState.OUT_OF_SYNC, "ml", "w", "chart or values changed")
    rows = [row("rolled", "RollbackSucceeded", ready="True"), row("fine", "InSync", ready="True")]
    assert unsettled(rows, [waiting], {("ml", "rolled")}) == {
        ("failed", "ml", "w"),
        ("failed", "ml", "rolled"),
    }
