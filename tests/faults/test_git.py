"""Git faults while `modelsync run` follows the repository: the remote gone, garbage or a
trickle where a Git server should be, a force-push, and commits that must not uninstall
what is running (an empty tree, a nested or deleted cluster.yaml, a mass rename with one
broken file).

One world for the module (scenarios run one after another, each from where the one before
converged): alpha and beta installed by one controller. Each scenario injects its fault,
lets the controller make a few passes over it (nothing Git intended before may be
uninstalled meanwhile), repairs it and times the return to what Git intends.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.faults import report
from tests.faults.world import World
from tests.support.gitserver import TrickleServer
from tests.support.waiting import wait_for

pytestmark = pytest.mark.cluster

PASSES_UNDER_FAULT = 2
CLUSTER = "clusters/lab/cluster.yaml"


@pytest.fixture(scope="module")
def running(shared_world: World) -> World:
    world = shared_world
    world.put("alpha")
    world.put("beta", file="team/beta")
    world.commit("alpha and beta")
    world.watch.start()
    world.start()
    assert world.converge(time.monotonic()) is not None, world.tail()
    return world


def _under_fault(world: World) -> None:
    """Let the controller make a few passes (failed or not) with the fault in place, and
    keep what it said of the last one for the report."""
    replica = world.replicas[-1]
    seen = replica.status().get("passes", 0)
    wait_for(lambda: replica.status().get("passes", 0) >= seen + PASSES_UNDER_FAULT, timeout=60)
    last = replica.status().get("lastPass") or {}
    said = last.get("error") or last.get("refusedPrune") or f"{last.get('failed', 0)} failed"
    world.note = " ".join(str(said).split())[:90]


def _finish(world: World, scenario: str, faults: str, since: float) -> None:
    outcome = report.record(world.outcome(scenario, faults, since, notes=world.note))
    world.note = ""
    assert outcome.ok, f"{outcome}\n{world.tail()}"


def test_the_remote_goes_away(running: World) -> None:
    world = running
    world.begin()
    moved = world.origin.bare.with_suffix(".away")
    world.origin.bare.rename(moved)
    _under_fault(world)
    moved.rename(world.origin.bare)
    _finish(world, "Git: remote gone", "repository missing on the server", time.monotonic())


@pytest.mark.parametrize(
    ("kind", "prefix", "interval"),
    [("garbage", b"\xff\x00garbage, not pkt-lines\n" * 40, 0.05), ("trickle", b"0", 1.0)],
)
def test_a_hostile_server_where_the_remote_was(
    running: World, kind: str, prefix: bytes, interval: float
) -> None:
    """The controller restarted against a server that answers garbage, or one byte a
    second (its deadline, 8s, must end the fetch); then against the real remote again."""
    world = running
    world.begin()
    with TrickleServer(prefix, interval=interval, limit=30) as server:
        world.replicas[-1].stop()
        world.start(f"modelsync-{kind}", repo=f"git://127.0.0.1:{server.port}/x.git")
        _under_fault(world)
        world.replicas[-1].stop()
    since = time.monotonic()
    world.start(f"modelsync-after-{kind}")
    _finish(world, f"Git: {kind} from the server", f"{kind}, then the real remote", since)


def test_a_force_push_rewrites_history(running: World) -> None:
    world = running
    world.begin()
    world.origin.git("checkout", "-q", "--orphan", "rewritten")
    world.put("gamma")
    world.watch.intend(world.workspaces)
    world.origin.git("add", "-A")
    world.origin.git("commit", "-q", "-m", "rewritten history")
    world.origin.git("push", "-q", "--force", "origin", "rewritten:main")
    world.origin.git("branch", "-q", "-M", "main")
    _finish(world, "Git: force-push", "unrelated history with one more Workspace", time.monotonic())


def _bad_commit_then_repair(world: World, scenario: str, faults: str, bad: list[str]) -> None:
    """Commit what the paths in ``bad`` hold (or their removal) as one commit, let the
    controller see it, then restore the work tree as it was and commit that."""
    kept = {path: (world.origin.work / path).read_bytes() for path in world.workspaces.values()}
    kept[CLUSTER] = (world.origin.work / CLUSTER).read_bytes()
    for path in bad:
        if (world.origin.work / path).exists():
            world.origin.remove(path)
    world.origin.commit(scenario)
    _under_fault(world)
    for path, data in kept.items():
        world.origin.write(path, data)
    world.commit(f"repair after {scenario}")
    _finish(world, scenario, faults, time.monotonic())


def test_an_empty_tree(running: World) -> None:
    running.begin()
    everything = [str(p.relative_to(running.origin.work)) for p in _files(running.origin.work)]
    _bad_commit_then_repair(running, "Git: empty tree", "every file removed", everything)


def test_the_cluster_file_deleted(running: World) -> None:
    running.begin()
    _bad_commit_then_repair(running, "Git: cluster.yaml deleted", "cluster.yaml removed", [CLUSTER])


def test_a_nested_cluster_file(running: World) -> None:
    world = running
    world.begin()
    world.origin.write("clusters/lab/team/cluster.yaml", "")
    world.origin.commit("an empty cluster.yaml above beta")
    _under_fault(world)
    world.origin.remove("clusters/lab/team/cluster.yaml")
    world.commit("nested cluster.yaml removed")
    _finish(
        world, "Git: nested empty cluster.yaml", "clusters/lab/team/cluster.yaml", time.monotonic()
    )


def test_a_mass_rename_with_one_broken_file(running: World) -> None:
    world = running
    world.begin()
    for name in sorted(world.workspaces):
        new = f"clusters/lab/moved/{name}.yaml"
        world.origin.rename(world.workspaces[name], new)
        world.workspaces[name] = new
    world.origin.write("clusters/lab/moved/broken.yaml", "kind: Workspace\nmetadata: {name: [\n")
    world.origin.commit("every file moved, one broken")
    _under_fault(world)
    world.origin.remove("clusters/lab/moved/broken.yaml")
    world.commit("broken file removed")
    _finish(
        world, "Git: mass rename + 1 broken file", "all renamed, 1 unparsable", time.monotonic()
    )


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and ".git" not in p.relative_to(root).parts]
