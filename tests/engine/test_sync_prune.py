"""Prune safety end to end: commits that must not uninstall releases that are still wanted.

Each test starts from the four Workspaces of ``World`` installed by a first pass, pushes a
commit that a careless or hostile pull request could contain, and checks which releases
are left in the emulated cluster.
"""

from __future__ import annotations

from tests.engine.conftest import NAMES, World, actions, workspace


def test_a_nested_cluster_file_takes_no_workspaces_from_its_cluster(world: World) -> None:
    for name in ("team-a", "team-b"):
        world.origin.write(f"clusters/edge/team/{name}.yaml", workspace(name))
    world.origin.commit("a team folder")
    assert world.run().ok
    world.origin.write("clusters/edge/team/cluster.yaml", "")
    world.origin.commit("an empty cluster file in the team folder")

    result = world.run(full=True)

    assert actions(result) == {}
    assert set(world.releases()) == {*NAMES, "team-a", "team-b"}
    assert result.report is not None
    [nested] = [f for f in result.report.findings if f.file.endswith("team/cluster.yaml")]
    assert nested.is_error
    assert "clusters/edge/" in nested.message


def test_a_renamed_file_that_no_longer_parses_keeps_every_release(world: World) -> None:
    world.run()
    world.origin.rename("clusters/edge/alpha.yaml", "clusters/edge/models/alpha.yaml")
    world.origin.rename("clusters/edge/beta.yaml", "clusters/edge/models/beta.yaml")
    world.origin.write("clusters/edge/models/beta.yaml", "kind: Workspace\nmetadata: [beta\n")
    world.origin.commit("move the models, and break one")

    result = world.run()

    assert actions(result) == {}
    assert set(world.releases()) == set(NAMES)
    assert result.plan is not None
    [beta] = [s for s in result.plan.steps if s.name == "beta"]
    assert "clusters/edge/models/beta.yaml" in beta.reason


def test_a_renamed_invalid_workspace_keeps_its_release_and_a_removal_still_prunes(
    world: World,
) -> None:
    world.run()
    world.origin.rename("clusters/edge/gamma.yaml", "clusters/edge/models/gamma.yaml")
    world.origin.commit("move gamma")
    assert actions(world.run()) == {}  # the same Workspace: in sync, nothing to do
    broken = workspace("gamma").replace("resource: {}", "resource: {count: many}")
    world.origin.write("clusters/edge/models/gamma.yaml", broken)
    world.origin.remove("clusters/edge/delta.yaml")
    world.origin.commit("break gamma, retire delta")

    result = world.run()

    assert actions(result) == {"delta": "uninstall:ok"}
    assert set(world.releases()) == {"alpha", "beta", "gamma"}
