"""The hydrate target against an output directory and a ledger someone else shaped.

The output directory may be a shared volume or a checkout, and its ledger may be restored
from a branch anyone with push access wrote: links in it are never followed and ledger
paths never leave it. Same World as test_sync_hydrate: a real git daemon in, files out.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.adapters.hydrate import LEDGER, HydrateTarget
from controller.engine.sync import Syncer
from tests.engine.test_sync_hydrate import World, actions
from tests.support.gitserver import GitDaemon, OriginRepo


@pytest.fixture
def world(git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path) -> World:
    return World(git_origin, git_daemon, tmp_path)


def files_under(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*"))


@pytest.mark.parametrize("linked", ["edge", "edge/default"])
def test_a_symlink_inside_the_output_directory_is_not_followed(
    world: World, tmp_path: Path, linked: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = world.out / linked
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere, target_is_directory=True)
    result = world.syncer.run_pass()
    assert files_under(elsewhere) == []
    assert link.is_symlink()
    failures = [r.message for r in result.results if not r.ok] + [result.error]
    assert any("symlink" in message for message in failures), failures


def fresh_syncer(world: World) -> Syncer:
    """A controller restarted on the same output directory (it reads the ledger anew)."""
    return Syncer(
        source=world.source,
        target=HydrateTarget(world.out, world.syncer.charts, "edge"),
        schemas=world.syncer.validator.schemas,
        catalog=world.syncer.validator.catalog,
        charts=world.syncer.charts,
        cluster="edge",
    )


def test_a_ledger_entry_pointing_outside_deletes_nothing(world: World, tmp_path: Path) -> None:
    assert world.syncer.run_pass().ok
    victim = tmp_path / "x" / "gamma.yaml"
    victim.parent.mkdir()
    victim.write_text("precious\n")
    # A ledger as a restore from a hostile branch leaves it: an extra release whose
    # namespace climbs out of <out>/edge; the planner would prune it as not in Git.
    path = world.out / "edge" / LEDGER
    ledger = json.loads(path.read_text())
    entry = dict(ledger["releases"]["default/gamma"], namespace="../../x")
    entry["file"] = "../../x/gamma.yaml"
    ledger["releases"]["../../x/gamma"] = entry
    path.write_text(json.dumps(ledger))
    result = fresh_syncer(world).run_pass()
    assert victim.read_text() == "precious\n"
    assert "refusing to use this ledger" in result.error
    assert actions(result) == {}
