"""Passes after a controller died mid-action: the release comes back in the first pass.

A restarted controller is a new Syncer and a new helm target over the same cluster; the
record a killed Helm action leaves is written the way Helm leaves it (``stick``).
"""

from __future__ import annotations

from controller.core.planning import PlanPolicy
from tests.adapters.conftest import records, stick
from tests.engine.conftest import NAMES, World, actions, workspace


def restart(world: World) -> None:
    world.target.close()
    world.target = world.new_target()
    world.syncer = world.new_syncer(PlanPolicy())


def test_an_install_killed_halfway_is_installed_again_by_the_next_controller(
    world: World,
) -> None:
    world.run()
    stick(world.api, "alpha", "pending-install", new_revision=False)
    restart(world)

    first = world.run()

    assert actions(first) == {"alpha": "reinstall:ok"}
    assert world.releases() == dict.fromkeys(NAMES, (1, "deployed"))
    assert world.run().skipped == "commit unchanged"


def test_a_prune_killed_halfway_does_not_lose_the_release_when_its_workspace_returns(
    world: World,
) -> None:
    world.run()
    world.origin.remove("clusters/edge/beta.yaml")
    world.origin.commit("retire beta")
    world.api.fail("DELETE", r"/deployments/beta$", 500, times=None)
    assert actions(world.run()) == {"beta": "uninstall:failed"}
    world.api.clear_faults()
    world.origin.git("revert", "--no-edit", "HEAD")
    world.origin.push()

    assert actions(world.run()) == {"beta": "reinstall:ok"}
    assert records(world.api, "beta") == [("1", "deployed")]
    assert world.api.get("deployments", "beta") is not None
    world.now += 10  # past the failed uninstall's backoff: it is over, not due again
    assert world.run().skipped == "commit unchanged"


def test_an_upgrade_killed_halfway_is_rolled_back_then_retried_without_waiting_for_git(
    world: World,
) -> None:
    world.run()
    world.origin.write("clusters/edge/alpha.yaml", workspace("alpha", context=4096))
    world.origin.commit("alpha: shorter context")
    stick(world.api, "alpha", "pending-upgrade")  # the old controller died mid-upgrade
    restart(world)

    assert actions(world.run()) == {"alpha": "rollback:ok"}
    world.now += 10  # the interrupted upgrade counts as a failed attempt: retried after 5 s

    assert actions(world.run()) == {"alpha": "upgrade:ok"}
    assert world.releases()["alpha"] == (4, "deployed")
