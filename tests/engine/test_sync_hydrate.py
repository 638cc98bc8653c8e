"""Reconcile passes end to end: a real git daemon in, rendered manifests out.

Each test commits to a served repository and runs passes of a Syncer whose source is
pygit2 against ``git daemon`` and whose target is the hydrate directory.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.adapters.bundled import load_bundle
from controller.adapters.charts import ChartSource
from controller.adapters.gitsource import GitRef, GitSource
from controller.adapters.hydrate import LEDGER, HydrateTarget
from controller.core.planning import Action, DriftPolicy, PlanPolicy, Step
from controller.core.status import ActionResult
from controller.engine.sync import Syncer
from tests.support.gitserver import GitDaemon, OriginRepo

CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: edge}
spec:
  nodePools:
    - {name: l4, gpu: L4, gpusPerNode: 1, nodes: 8}
"""


def workspace(name: str, *, preset: str = "phi-3.5-mini-instruct", extra: str = "") -> str:
    """A Workspace; ``extra`` is more YAML under metadata (two-space indented)."""
    return (
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        f"metadata:\n  name: {name}\n{extra}"
        f"resource: {{}}\ninference:\n  preset: {{name: {preset}}}\n"
    )


class World:
    """A served clusters repo, a Syncer on it, and the hydrate output directory."""

    def __init__(self, origin: OriginRepo, daemon: GitDaemon, tmp: Path) -> None:
        self.origin = origin
        self.out = tmp / "out"
        origin.write("clusters/edge/cluster.yaml", CLUSTER)
        for name in ("alpha", "beta", "gamma", "delta"):
            origin.write(f"clusters/edge/{name}.yaml", workspace(name))
        origin.write("clusters/other/cluster.yaml", CLUSTER.replace("edge", "other"))
        origin.commit("initial")
        bundle = load_bundle()
        charts = ChartSource(bundle.charts_dir)
        self.source = GitSource(daemon.url(origin.name), GitRef(branch="main"), tmp / "cache")
        self.target = HydrateTarget(self.out, charts, "edge")
        self.syncer = Syncer(
            source=self.source,
            target=self.target,
            schemas=bundle.schemas,
            catalog=bundle.catalog,
            charts=charts,
            cluster="edge",
        )

    def files(self) -> list[str]:
        root = self.out / "edge"
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.yaml"))

    def ledger(self) -> dict[str, object]:
        data: dict[str, object] = json.loads((self.out / "edge" / LEDGER).read_text())
        return data


@pytest.fixture
def world(git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path) -> World:
    return World(git_origin, git_daemon, tmp_path)


def actions(result: object) -> dict[str, str]:
    return {
        f"{r.step.name}": f"{r.step.action}:{'ok' if r.ok else 'failed'}"
        for r in getattr(result, "results", ())
    }


def test_a_cold_pass_renders_every_workspace_and_a_second_does_nothing(world: World) -> None:
    first = world.syncer.run_pass()
    assert first.ok
    assert actions(first) == dict.fromkeys(("alpha", "beta", "delta", "gamma"), "install:ok")
    assert world.files() == [f"default/{n}.yaml" for n in ("alpha", "beta", "delta", "gamma")]
    again = world.syncer.run_pass()
    assert again.skipped == "commit unchanged"
    fresh = Syncer(
        source=world.source,
        target=HydrateTarget(world.out, world.syncer.charts, "edge"),
        schemas=world.syncer.validator.schemas,
        catalog=world.syncer.validator.catalog,
        charts=world.syncer.charts,
        cluster="edge",
    ).run_pass()
    assert fresh.results == ()
    assert fresh.plan is not None
    assert {s.action for s in fresh.plan.steps} == {Action.NONE}


def test_one_changed_workspace_touches_exactly_one_release(world: World) -> None:
    world.syncer.run_pass()
    before = (world.out / "edge/default/alpha.yaml").read_text()
    world.origin.write(
        "clusters/edge/beta.yaml",
        workspace("beta", extra="  annotations: {modelsync.dev/max-model-len: '4096'}\n"),
    )
    commit = world.origin.commit("beta: shorter context")
    result = world.syncer.run_pass()
    assert actions(result) == {"beta": "upgrade:ok"}
    assert "maxModelLen: 4096" in (world.out / "edge/default/beta.yaml").read_text()
    assert (world.out / "edge/default/alpha.yaml").read_text() == before
    assert world.ledger()["commit"] == commit


def test_a_commit_outside_the_cluster_is_skipped_without_reading_the_tree(world: World) -> None:
    world.syncer.run_pass()
    world.origin.write("clusters/other/w.yaml", workspace("w"))
    world.origin.write("README.md", "docs\n")
    commit = world.origin.commit("elsewhere")
    result = world.syncer.run_pass()
    assert result.skipped == "no change under clusters/edge/"
    assert world.syncer.commit == commit


def test_a_removed_workspace_is_pruned(world: World) -> None:
    world.syncer.run_pass()
    world.origin.remove("clusters/edge/gamma.yaml")
    world.origin.commit("remove gamma")
    result = world.syncer.run_pass()
    assert actions(result) == {"gamma": "uninstall:ok"}
    assert [e.reason for e in result.events] == ["Pruned"]
    assert "default/gamma.yaml" not in world.files()


def test_a_broken_workspace_keeps_its_release_and_blocks_no_one(world: World) -> None:
    world.syncer.run_pass()
    world.origin.write("clusters/edge/alpha.yaml", "metadata: [unclosed\n")
    world.origin.write("clusters/edge/beta.yaml", workspace("beta", preset="phi-4-mini-instruct"))
    world.origin.commit("break alpha, change beta")
    result = world.syncer.run_pass()
    assert actions(result) == {"beta": "upgrade:ok"}
    assert "default/alpha.yaml" in world.files()
    assert any(e.reason == "ValidationFailed" for e in result.events)
    row = next(s for s in result.statuses if s.file == "clusters/edge/alpha.yaml")
    assert (row.ready, row.reason, row.stalled) == ("False", "ValidationFailed", True)
    assert "invalid YAML" in row.message


def test_a_file_of_several_documents_installs_each_workspace_and_ignores_other_kinds(
    world: World,
) -> None:
    world.syncer.run_pass()
    configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: params}\ndata: {a: b}\n"
    world.origin.write(
        "clusters/edge/pair.yaml",
        "---\n".join([configmap, workspace("epsilon"), workspace("zeta")]),
    )
    world.origin.commit("a file with a ConfigMap and two Workspaces")
    result = world.syncer.run_pass()
    assert actions(result) == {"epsilon": "install:ok", "zeta": "install:ok"}
    rows = [s for s in result.statuses if s.file == "clusters/edge/pair.yaml"]
    assert sorted(s.name for s in rows) == ["epsilon", "zeta"]
    assert not any(e.reason == "ValidationFailed" for e in result.events)


def test_an_invalid_cluster_file_stops_the_pass_and_prunes_nothing(world: World) -> None:
    world.syncer.run_pass()
    world.origin.write("clusters/edge/cluster.yaml", "kind: Cluster\n")
    world.origin.remove("clusters/edge/delta.yaml")
    world.origin.commit("broken cluster file")
    result = world.syncer.run_pass()
    assert "clusters/edge/cluster.yaml is invalid" in result.error
    assert result.results == ()
    assert "default/delta.yaml" in world.files()


def test_an_unreachable_remote_keeps_the_last_good_state(world: World, tmp_path: Path) -> None:
    world.syncer.run_pass()
    good = world.syncer.commit
    world.syncer.source = GitSource(
        "git://127.0.0.1:9/nothing.git", GitRef(branch="main"), tmp_path / "dead", timeout=2
    )
    result = world.syncer.run_pass(full=True)
    assert result.error.startswith("fetch failed")
    assert world.syncer.commit == good
    assert len(world.files()) == 4


def test_pruning_most_releases_at_once_needs_force(world: World) -> None:
    world.syncer.run_pass()
    for name in ("alpha", "beta", "gamma"):
        world.origin.remove(f"clusters/edge/{name}.yaml")
    world.origin.commit("remove three of four")
    refused = world.syncer.run_pass()
    assert refused.plan is not None
    assert "refusing to uninstall 3 of 4 releases" in refused.plan.refused_prune
    assert len(world.files()) == 4
    world.syncer.policy = PlanPolicy(force=True)
    forced = world.syncer.run_pass(full=True)
    assert sorted(actions(forced).values()) == ["uninstall:ok"] * 3
    assert world.files() == ["default/delta.yaml"]


def test_a_suspended_workspace_is_frozen(world: World) -> None:
    world.syncer.run_pass()
    world.origin.write(
        "clusters/edge/alpha.yaml",
        workspace(
            "alpha",
            preset="phi-4-mini-instruct",
            extra="  annotations: {modelsync.dev/suspend: 'true'}\n",
        ),
    )
    world.origin.commit("suspend and change alpha")
    result = world.syncer.run_pass()
    assert actions(result) == {}
    row = next(s for s in result.statuses if s.name == "alpha")
    assert (row.reason, row.suspended) == ("Suspended", True)
    assert "Phi-3.5" in (world.out / "edge/default/alpha.yaml").read_text()


def test_a_failed_action_backs_off_until_git_changes_it(world: World) -> None:
    world.syncer.run_pass()
    pinned = "  annotations: {modelsync.dev/chart-version: 9.9.9}\n"
    world.origin.write("clusters/edge/alpha.yaml", workspace("alpha", extra=pinned))
    world.origin.commit("pin a chart version that does not exist")
    failed = world.syncer.run_pass()
    assert actions(failed) == {"alpha": "upgrade:failed"}
    assert "9.9.9 is not bundled" in failed.results[0].message
    waiting = world.syncer.run_pass(full=True)
    assert [s.name for s in waiting.waiting] == ["alpha"]
    assert waiting.results == ()
    world.origin.write("clusters/edge/alpha.yaml", workspace("alpha"))
    world.origin.commit("unpin")
    fixed = world.syncer.run_pass()
    assert actions(fixed) == {}  # back to the deployed digest: nothing to do
    assert fixed.waiting == ()


def test_a_dry_run_changes_nothing(world: World) -> None:
    result = world.syncer.run_pass(dry_run=True)
    assert result.plan is not None
    assert len(result.plan.actions()) == 4
    assert not world.out.exists()


def test_an_edited_output_file_is_drift_reported_then_corrected(world: World) -> None:
    world.syncer.run_pass()
    edited = world.out / "edge/default/alpha.yaml"
    edited.write_text(edited.read_text().replace("replicas: 1", "replicas: 5"))
    warned = world.syncer.run_pass(full=True)
    assert warned.drifted == ("default/alpha",)
    assert [e.reason for e in warned.events] == ["DriftDetected"]
    assert "replicas: 5" in edited.read_text()
    world.syncer.policy = PlanPolicy(drift=DriftPolicy.CORRECT)
    corrected = world.syncer.run_pass(full=True)
    assert actions(corrected) == {"alpha": "upgrade:ok"}
    assert "replicas: 5" not in edited.read_text()
    assert world.syncer.run_pass(full=True).drifted == ()


class MeetingTarget(HydrateTarget):
    """Each apply waits until another one has started: a pass completes only if applies
    really run at the same time (a serial pass breaks the barrier after its timeout)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.barrier = threading.Barrier(2, timeout=10)

    def apply(self, step: Step, commit: str) -> ActionResult:
        self.barrier.wait()
        return super().apply(step, commit)


def test_renders_run_concurrently_and_results_keep_plan_order(world: World, tmp_path: Path) -> None:
    bundle = load_bundle()
    charts = ChartSource(bundle.charts_dir)
    target = MeetingTarget(tmp_path / "parallel", charts, "edge")
    syncer = Syncer(
        source=world.source,
        target=target,
        schemas=bundle.schemas,
        catalog=bundle.catalog,
        charts=charts,
        cluster="edge",
        concurrency=2,
    )
    result = syncer.run_pass()
    assert result.ok, result.results
    assert result.plan is not None
    assert [r.step for r in result.results] == result.plan.actions()
    assert len(result.results) == 4
    rendered = sorted(p.name for p in (tmp_path / "parallel" / "edge").rglob("*.yaml"))
    assert rendered == ["alpha.yaml", "beta.yaml", "delta.yaml", "gamma.yaml"]
    assert len(json.loads((tmp_path / "parallel" / "edge" / LEDGER).read_text())["releases"]) == 4


def test_concurrency_below_one_is_refused(world: World) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Syncer(
            source=world.source,
            target=world.target,
            schemas=load_bundle().schemas,
            catalog=load_bundle().catalog,
            charts=ChartSource(load_bundle().charts_dir),
            cluster="edge",
            concurrency=0,
        )


def test_a_preset_committed_beside_the_clusters_folder_is_used_on_the_next_pass(
    world: World,
) -> None:
    root = Path(__file__).resolve().parents[2]
    local: dict[str, Any] = yaml.safe_load(
        (root / "presets/models/phi-3.5-mini-instruct.yaml").read_text()
    )
    local["metadata"] = {"name": "acme-phi", "family": "phi3"}
    local["model"]["huggingFaceId"] = "acme/Phi-Tuned"
    world.origin.write("clusters/edge/tuned.yaml", workspace("tuned", preset="acme/Phi-Tuned"))
    world.origin.commit("a Hugging Face model without a preset")
    first = world.syncer.run_pass()
    assert "tuned" not in actions(first)
    # Only presets/ changes: the pass must not be skipped as "no change under clusters/edge/".
    world.origin.write("presets/acme-phi.yaml", yaml.safe_dump(local))
    world.origin.commit("pin acme/Phi-Tuned")
    second = world.syncer.run_pass()
    assert second.skipped == ""
    assert actions(second) == {"tuned": "install:ok"}
