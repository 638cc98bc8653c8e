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
