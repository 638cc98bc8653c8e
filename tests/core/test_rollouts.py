"""How a commit's rollout stands after a pass, and when that is worth a notification."""

from __future__ import annotations

from dataclasses import replace

from controller.core.planning import Action, ObservedRelease, ReleaseState, Step
from controller.core.rollouts import RolloutMemory, RolloutState, rollout_of
from controller.core.status import ActionResult, WorkspaceStatus

SHA = "a" * 40


def row(
    name: str, ready: str = "True", reason: str = "InSync", message: str = ""
) -> WorkspaceStatus:
    return WorkspaceStatus("edge", "ml", name, name, f"clusters/edge/{name}.yaml", ready, reason,
                           message)  # fmt: skip


def test_every_workspace_ready_is_success() -> None:
    rollout = rollout_of("edge", SHA, [row("a"), row("b")])
    assert (rollout.state, rollout.description) == (RolloutState.SUCCESS, "2 Workspaces ready")
    assert (rollout.commit, rollout.ready, rollout.total) == (SHA, 2, 2)


def test_a_release_still_coming_up_is_pending_and_suspended_ones_do_not_count() -> None:
    rows = [
        row("a"),
        row("b", "Unknown", "Progressing"),
        replace(row("c", "False"), suspended=True),
    ]
    rollout = rollout_of("edge", SHA, rows)
    assert rollout.state is RolloutState.PENDING
    assert rollout.description == "1 of 2 Workspaces ready; waiting for the rest"


def test_a_failed_release_or_an_invalid_file_is_failure_with_the_first_reason() -> None:
    rows = [
        row("a"),
        row("b", "False", "UpgradeFailed", "chart 9.9.9 is not bundled"),
        row("c", "False", "ValidationFailed", "clusters/edge/c.yaml:3: unknown field"),
    ]
    rollout = rollout_of("edge", SHA, rows)
    assert rollout.state is RolloutState.FAILURE
    assert rollout.description == "2 failed; b: UpgradeFailed: chart 9.9.9 is not bundled"
    assert [(f.workspace, f.file) for f in rollout.failures] == [
        ("b", "clusters/edge/b.yaml"),
        ("c", "clusters/edge/c.yaml"),
    ]


def test_a_failed_prune_is_a_failure_and_a_stopped_pass_too() -> None:
    gone = ObservedRelease("gone", "ml", 1, "deployed")
    step = Step(
        Action.UNINSTALL, ReleaseState.ORPHANED, "ml", "gone", "no longer in Git", None, gone
    )
    rollout = rollout_of("edge", SHA, [row("a")], [ActionResult(step, ok=False, message="denied")])
    assert rollout.state is RolloutState.FAILURE
    assert rollout.failures[0].reason == "UninstallFailed"
    stopped = rollout_of("edge", SHA, [], error="clusters/edge/cluster.yaml is invalid")
    assert stopped.state is RolloutState.FAILURE
    assert stopped.description == "not applied: clusters/edge/cluster.yaml is invalid"


def test_the_description_fits_a_github_status() -> None:
    rollout = rollout_of("edge", SHA, [row("b", "False", "InstallFailed", "x" * 500)])
    assert len(rollout.description) == 140
    assert rollout.description.endswith("...")


def test_the_same_commit_in_the_same_state_is_reported_once() -> None:
    memory = RolloutMemory()
    pending = rollout_of("edge", SHA, [row("a", "Unknown", "Progressing")])
    assert memory.news(pending)
    assert not memory.news(pending)
    ready = rollout_of("edge", SHA, [row("a")])
    assert memory.news(ready)
    assert not memory.news(ready)
    assert memory.news(rollout_of("edge", "b" * 40, [row("a")]))  # a new commit


def test_a_change_rolled_back_after_failing_is_no_rollout_even_when_ready() -> None:
    rows = [row("a"), row("b", "Unknown", "Progressing")]
    rollout = rollout_of("edge", SHA, rows, failing={("ml", "b")})
    assert rollout.state is RolloutState.FAILURE
    assert [(f.workspace, f.reason) for f in rollout.failures] == [("b", "ChangeFailed")]
