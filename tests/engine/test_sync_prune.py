"""Prune safety end to end: commits that must not uninstall releases that are still wanted.

Each test starts from the four Workspaces of ``World`` installed by a first pass, pushes a
commit that a careless or hostile pull request could contain, and checks which releases
are left in the emulated cluster.
"""

from __future__ import annotations

from tests.engine.conftest import CLUSTER, NAMES, World, actions, workspace


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


def with_limit(ratio: float) -> str:
    return CLUSTER + f"  target: {{maxPruneRatio: {ratio}}}\n"


def test_a_commit_cannot_raise_the_prune_limit_that_guards_it(world: World) -> None:
    world.run()
    world.origin.write("clusters/edge/cluster.yaml", with_limit(1))
    for name in NAMES:
        world.origin.remove(f"clusters/edge/{name}.yaml")
    world.origin.commit("empty the cluster and switch its guard off")

    result = world.run()

    assert actions(result) == {}
    assert result.plan is not None
    assert "refusing to uninstall 4 of 4 releases" in result.plan.refused_prune
    assert "more than 50%" in result.plan.refused_prune
    assert set(world.releases()) == set(NAMES)


def test_a_looser_limit_holds_only_once_a_commit_that_needs_it_not_was_applied(
    world: World,
) -> None:
    world.origin.write("clusters/edge/cluster.yaml", with_limit(0.25))
    world.origin.commit("prune at most one release of four")
    world.run()
    world.origin.write("clusters/edge/cluster.yaml", with_limit(0.5))
    world.origin.remove("clusters/edge/gamma.yaml")
    world.origin.remove("clusters/edge/delta.yaml")
    world.origin.commit("loosen the limit and use it at once")

    assert actions(world.run()) == {}
    world.now += 700
    again = world.run(full=True)  # the next full pass: the same commit, the same refusal

    assert actions(again) == {}
    assert again.plan is not None
    assert "more than 25%" in again.plan.refused_prune
    world.origin.write("clusters/edge/gamma.yaml", workspace("gamma"))
    world.origin.write("clusters/edge/delta.yaml", workspace("delta"))
    world.origin.commit("restore them: the new limit alone")
    assert actions(world.run()) == {}
    world.origin.remove("clusters/edge/gamma.yaml")
    world.origin.remove("clusters/edge/delta.yaml")
    world.origin.commit("retire two")

    assert actions(world.run()) == {"delta": "uninstall:ok", "gamma": "uninstall:ok"}


def test_a_folder_of_workspaces_replaced_by_a_link_git_cannot_follow_keeps_them(
    world: World,
) -> None:
    for name in ("team-a", "team-b"):
        world.origin.write(f"clusters/edge/team/{name}.yaml", workspace(name))
    world.origin.commit("a team folder")
    world.run()
    for name in ("team-a", "team-b"):
        world.origin.rename(f"clusters/edge/team/{name}.yaml", f"clusters/shared/{name}.yaml")
    (world.origin.work / "clusters/edge/team").rmdir()
    world.origin.symlink("clusters/edge/team", "../shared")
    world.origin.commit("share the team folder through a link")

    result = world.run()

    assert actions(result) == {}
    assert set(world.releases()) == {*NAMES, "team-a", "team-b"}
    assert result.report is not None
    [unread] = [f for f in result.report.findings if f.file == "clusters/edge/team"]
    assert "leaves clusters/edge/" in unread.message
