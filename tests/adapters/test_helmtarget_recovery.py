"""The helm target recovers releases that failed or were interrupted, on the emulator.

Failures come from the emulator (an error status on one verb and path, standing in for an
API server or webhook that refuses); interruptions (a controller killed mid-action) are
release records rewritten the way Helm leaves them when its process dies.
"""

from __future__ import annotations

from controller.core.planning import Action, FailurePolicy, PlanPolicy, ReleaseState
from tests.adapters.conftest import COMMIT, Pass, inference, outcome, records, stick


def test_a_failed_upgrade_is_rolled_back_to_the_last_deployed_revision(world: Pass) -> None:
    world.run()
    world.put("alpha", inference("alpha", context=4096))
    world.api.fail("PATCH", r"/deployments/alpha$", 500)

    failed = world.run()["alpha"]

    assert not failed.ok
    assert failed.retryable
    assert failed.message.startswith("server-side apply failed for object default/alpha")
    observed = world.observe()["alpha"]
    assert (observed.status, observed.revision, observed.previous_deployed) == ("failed", 2, 1)

    assert outcome(world.run(PlanPolicy(on_failure=FailurePolicy.ROLLBACK))) == {
        "alpha": "rollback:ok"
    }
    assert records(world.api, "alpha") == [("1", "superseded"), ("2", "failed"), ("3", "deployed")]
    restored = world.observe()["alpha"]
    assert restored.commit == COMMIT  # the commit of revision 1, which revision 3 restores
    # Revision 3 carries revision 1's digest, so Git's change is tried again next pass.
    assert {s.name: s.action for s in world.plan()}["alpha"] is Action.UPGRADE


def test_a_failed_first_install_is_applied_again_in_place(world: Pass) -> None:
    # Found by the fault suite (tests/faults/test_replicas.py): the failed record may be a
    # stale leader's, over a release that serves; uninstalling it was an outage.
    world.api.fail("PATCH", r"/deployments/alpha$", 500)
    assert outcome(world.run())["alpha"] == "install:failed"
    observed = world.observe()["alpha"]
    assert (observed.status, observed.revision, observed.previous_deployed) == ("failed", 1, None)
    service = world.api.get("services", "alpha")
    assert service is not None

    assert outcome(world.run()) == {"alpha": "upgrade:ok"}
    assert records(world.api, "alpha") == [("1", "superseded"), ("2", "deployed")]
    assert world.api.get("deployments", "alpha") is not None
    again = world.api.get("services", "alpha")
    assert again is not None
    assert again["metadata"]["uid"] == service["metadata"]["uid"]  # never deleted


def test_the_uninstall_policy_removes_a_release_whose_upgrade_failed(world: Pass) -> None:
    world.run()
    world.put("alpha", inference("alpha", context=4096))
    world.api.fail("PATCH", r"/deployments/alpha$", 500)
    world.run()

    results = world.run(PlanPolicy(on_failure=FailurePolicy.UNINSTALL))

    assert outcome(results) == {"alpha": "uninstall:ok"}
    assert records(world.api, "alpha") == []
    assert outcome(world.run()) == {"alpha": "install:ok"}


def test_a_release_stuck_in_pending_upgrade_is_rolled_back(world: Pass) -> None:
    world.run()
    stick(world.api, "alpha")
    steps = {s.name: s for s in world.plan()}
    assert steps["alpha"].state is ReleaseState.STUCK
    assert steps["alpha"].action is Action.ROLLBACK

    results = world.run()

    assert outcome(results) == {"alpha": "rollback:ok"}
    assert results["alpha"].message == "rolled back to revision 1"
    assert world.observe()["alpha"].status == "deployed"


def test_a_release_left_uninstalling_is_reinstalled_when_its_workspace_returns(
    world: Pass,
) -> None:
    world.run()
    world.remove("beta")
    world.api.fail("DELETE", r"/deployments/beta$", 500, times=None)
    assert outcome(world.run()) == {"beta": "uninstall:failed"}
    assert records(world.api, "beta") == [("1", "uninstalling")]
    world.api.clear_faults()
    world.put("beta", inference("beta"))
    steps = {s.name: s for s in world.plan()}
    assert (steps["beta"].state, steps["beta"].action) == (ReleaseState.STUCK, Action.REINSTALL)

    assert outcome(world.run()) == {"beta": "reinstall:ok"}

    assert records(world.api, "beta") == [("1", "deployed")]
    assert world.api.get("deployments", "beta") is not None
    assert {s.name: s.state for s in world.plan()}["beta"] is ReleaseState.IN_SYNC


def test_a_release_left_uninstalling_without_its_workspace_is_uninstalled(world: Pass) -> None:
    world.run()
    world.remove("beta")
    world.api.fail("DELETE", r"/deployments/beta$", 500)
    assert outcome(world.run()) == {"beta": "uninstall:failed"}

    assert outcome(world.run()) == {"beta": "uninstall:ok"}
    assert records(world.api, "beta") == []
    assert world.api.get("deployments", "beta") is None


def test_a_release_left_pending_install_is_installed_again_in_the_same_pass(world: Pass) -> None:
    world.run()
    stick(world.api, "alpha", "pending-install", new_revision=False)
    # Killed before Helm applied the Deployment: the record exists, the object does not.
    world.target.connection.client().request(
        "DELETE", "/apis/apps/v1/namespaces/default/deployments/alpha"
    )
    steps = {s.name: s for s in world.plan()}
    assert (steps["alpha"].state, steps["alpha"].action) == (ReleaseState.STUCK, Action.REINSTALL)

    results = world.run()

    assert outcome(results) == {"alpha": "reinstall:ok"}
    assert results["alpha"].message == "reinstalled workspace-inference 0.1.0 (revision 1)"
    assert records(world.api, "alpha") == [("1", "deployed")]
    assert world.api.get("deployments", "alpha") is not None
