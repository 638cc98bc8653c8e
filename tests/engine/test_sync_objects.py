"""Passes with ModelWorkspace objects: status written when it changed, requests made through
the API (suspend, reset) obeyed, objects of Workspaces that left Git deleted, and a failed
read that stops the pass.

The Syncer runs on a real git daemon and the hydrate target; the objects live in
``MemoryObjects``, an in-memory ``ObjectStore`` (core/ports.py) that stands in for the API
server's storage of the CRD: it keeps what was applied, bumps ``generation`` when the spec
changes, as the API server does, and counts writes. tests/cluster/test_workspace_objects.py
runs the same flows against the real API server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from controller.adapters.bundled import load_bundle
from controller.adapters.charts import ChartSource
from controller.adapters.gitsource import GitRef, GitSource
from controller.adapters.hydrate import HydrateTarget
from controller.core.control import reset_patch, suspend_patch
from controller.core.ports import TargetError
from controller.engine.loop import Controller
from controller.engine.sync import PassResult, Syncer
from tests.support.gitserver import GitDaemon, OriginRepo
from tests.support.waiting import wait_for

CLUSTER = """\
apiVersion: modelsync.dev/v1alpha1
kind: Cluster
metadata: {name: edge}
spec:
  nodePools:
    - {name: l4, gpu: L4, gpusPerNode: 1, nodes: 8}
"""
PINNED = "  annotations: {modelsync.dev/chart-version: 9.9.9}\n"
Key = tuple[str, str]


def workspace(name: str, extra: str = "") -> str:
    return (
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\n"
        f"metadata:\n  name: {name}\n{extra}"
        "resource: {}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n"
    )


class MemoryObjects:
    """The API server's storage of ModelWorkspaces, as far as the Syncer uses it."""

    def __init__(self) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.writes = 0
        self.reads = 0
        self.broken = False

    def read(self, namespaces: Sequence[str]) -> dict[Key, dict[str, Any]] | None:
        self.reads += 1
        if self.broken:
            raise TargetError("cannot list the ModelWorkspaces: 503")
        return {k: v for k, v in self.objects.items() if k[0] in namespaces}

    def read_metadata(self, namespaces: Sequence[str]) -> dict[Key, dict[str, Any]] | None:
        return self.read(namespaces)

    def apply(self, body: Mapping[str, Any]) -> dict[str, Any]:
        meta = body["metadata"]
        key = (meta["namespace"], meta["name"])
        old = self.objects.get(key)
        generation = 1 if old is None else old["metadata"]["generation"]
        if old is not None and old["spec"] != body["spec"]:
            generation += 1
        annotations = old["metadata"].get("annotations", {}) if old else {}
        obj = {
            **body,
            "metadata": {**meta, "generation": generation, "annotations": annotations},
            "status": old.get("status", {}) if old else {},
        }
        self.objects[key] = obj
        self.writes += 1
        return obj

    def apply_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> None:
        self.objects[(namespace, name)]["status"] = dict(status)
        self.writes += 1

    def delete(self, namespace: str, name: str) -> None:
        del self.objects[(namespace, name)]
        self.writes += 1

    def annotate(self, name: str, patch: Mapping[str, Any]) -> None:
        """What ``modelsync suspend|reset`` do: a merge patch of the annotations."""
        annotations = self.objects[("default", name)]["metadata"]["annotations"]
        for key, value in patch["metadata"]["annotations"].items():
            if value is None:
                annotations.pop(key, None)
            else:
                annotations[key] = value

    def status(self, name: str) -> dict[str, Any]:
        status: dict[str, Any] = self.objects[("default", name)]["status"]
        return status


class World:
    def __init__(self, origin: OriginRepo, daemon: GitDaemon, tmp: Path) -> None:
        self.origin = origin
        origin.write("clusters/edge/cluster.yaml", CLUSTER)
        for name in ("alpha", "beta"):
            origin.write(f"clusters/edge/{name}.yaml", workspace(name))
        origin.commit("initial")
        bundle = load_bundle()
        charts = ChartSource(bundle.charts_dir)
        self.now = 1_000_000.0
        self.objects = MemoryObjects()
        self.syncer = Syncer(
            source=GitSource(daemon.url(origin.name), GitRef(branch="main"), tmp / "cache"),
            target=HydrateTarget(tmp / "out", charts, "edge"),
            schemas=bundle.schemas,
            catalog=bundle.catalog,
            charts=charts,
            cluster="edge",
            clock=lambda: self.now,
            objects=self.objects,
        )

    def run(self, *, full: bool = False) -> PassResult:
        return self.syncer.run_pass(full=full)


@pytest.fixture
def world(git_origin: OriginRepo, git_daemon: GitDaemon, tmp_path: Path) -> World:
    return World(git_origin, git_daemon, tmp_path)


def actions(result: PassResult) -> dict[str, str]:
    return {r.step.name: f"{r.step.action}:{'ok' if r.ok else 'failed'}" for r in result.results}


def conditions(status: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_a_pass_writes_one_object_per_workspace_and_a_quiet_pass_writes_nothing(
    world: World,
) -> None:
    world.run()
    assert sorted(world.objects.objects) == [("default", "alpha"), ("default", "beta")]
    alpha = world.objects.objects[("default", "alpha")]
    assert alpha["spec"]["workspace"]["metadata"]["name"] == "alpha"
    assert alpha["spec"]["file"] == "clusters/edge/alpha.yaml"
    status = alpha["status"]
    assert status["observedGeneration"] == 1
    assert conditions(status) == {
        "Ready": ("True", "InstallSucceeded"),
        "Reconciling": ("False", "Idle"),
        "Stalled": ("False", "NotStalled"),
    }
    assert (status["model"], status["pool"], status["gpus"]) == ("phi-3.5-mini-instruct", "l4", 1)
    assert status["chart"] == "workspace-inference"
    assert status["endpoint"] == "http://alpha.default.svc/v1"
    assert status["lastAppliedCommit"] == world.syncer.commit
    assert len(status["valuesDigest"]) == 16

    world.now += 30
    world.run(full=True)  # InstallSucceeded is InSync now: one status write each
    assert conditions(world.objects.status("alpha"))["Ready"] == ("True", "InSync")
    writes = world.objects.writes
    world.now += 30
    world.run(full=True)
    reads = world.objects.reads
    assert world.run().skipped == "commit unchanged"
    assert world.objects.writes == writes
    assert world.objects.reads == reads  # nothing new to show: not even a list


def test_a_changed_workspace_bumps_the_generation_its_status_observed(world: World) -> None:
    world.run()
    world.origin.write("clusters/edge/alpha.yaml", workspace("alpha", "  labels: {team: a}\n"))
    world.origin.commit("label alpha")
    world.run()
    alpha = world.objects.objects[("default", "alpha")]
    assert alpha["metadata"]["generation"] == 2
    assert alpha["status"]["observedGeneration"] == 2
    assert all(c["observedGeneration"] == 2 for c in alpha["status"]["conditions"])


def test_suspended_through_the_api_the_workspace_is_frozen_and_says_by_whom(
    world: World,
) -> None:
    world.run()
    world.objects.annotate("alpha", suspend_patch("t0", by="alice", reason="GPU maintenance"))
    world.origin.write("clusters/edge/alpha.yaml", workspace("alpha", PINNED))
    world.origin.commit("alpha: a change that must wait")
    result = world.run(full=True)
    assert actions(result) == {}
    row = next(s for s in result.statuses if s.name == "alpha")
    assert (row.reason, row.suspended) == ("Suspended", True)
    assert row.message == "suspended by alice: GPU maintenance"
    assert world.objects.status("alpha")["suspended"] == {
        "by": "alice",
        "reason": "GPU maintenance",
        "at": "t0",
    }
    assert conditions(world.objects.status("alpha"))["Reconciling"] == ("False", "Idle")


def test_reset_clears_retries_exceeded_and_the_change_is_tried_again(world: World) -> None:
    world.run()
    world.origin.write("clusters/edge/alpha.yaml", workspace("alpha", PINNED))
    world.origin.commit("pin a chart version that does not exist")
    failures = 0
    for _ in range(12):  # through the backoff until the retries are exhausted
        failures += sum(1 for r in world.run(full=True).results if not r.ok)
        world.now += 400
    assert failures == world.syncer.backoff.attempts
    assert conditions(world.objects.status("alpha"))["Stalled"] == ("True", "RetriesExceeded")
    assert actions(world.run(full=True)) == {}  # given up: waits for Git

    world.objects.annotate("alpha", reset_patch("r1"))
    retried = world.run(full=True)

    assert actions(retried) == {"alpha": "upgrade:failed"}
    status = world.objects.status("alpha")
    assert status["lastHandledResetAt"] == "r1"
    assert status["failures"] == 1
    assert conditions(status)["Stalled"] == ("False", "NotStalled")
    assert conditions(status)["Reconciling"][0] == "True"


def test_the_object_of_a_workspace_that_left_git_goes_with_its_release(world: World) -> None:
    world.run()
    world.origin.remove("clusters/edge/beta.yaml")
    world.origin.commit("retire beta")
    assert actions(world.run()) == {"beta": "uninstall:ok"}
    assert sorted(world.objects.objects) == [("default", "alpha")]


def test_a_failed_read_of_the_objects_stops_the_pass_and_prunes_nothing(world: World) -> None:
    world.run()
    world.origin.remove("clusters/edge/beta.yaml")
    world.origin.commit("retire beta")
    world.objects.broken = True
    result = world.run()
    assert "cannot read the Workspaces' objects" in result.error
    assert result.results == ()
    world.objects.broken = False
    assert sorted(world.objects.objects) == [("default", "alpha"), ("default", "beta")]


def test_credentials_in_a_workspace_show_masked_on_its_object(world: World) -> None:
    world.origin.write(
        "clusters/edge/tune.yaml",
        "apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata: {name: tune}\n"
        "resource: {}\ntuning:\n  preset: {name: phi-3.5-mini-instruct}\n  method: lora\n"
        '  input: {urls: ["https://reader:tok3n@data.example.com/train.parquet"]}\n'
        "  output: {image: registry.example.com/adapters/tune:1, imagePushSecret: push}\n",
    )
    world.origin.commit("tune")
    assert world.syncer.publisher is not None
    world.syncer.publisher.secrets = ("tok3n",)
    world.run()
    tune = world.objects.objects[("default", "tune")]
    assert "tok3n" not in str(tune)
    assert tune["spec"]["workspace"]["tuning"]["input"]["urls"] == [
        "https://reader:***@data.example.com/train.parquet"
    ]
    assert "endpoint" not in tune["status"]


def test_a_request_wakes_the_loop_for_a_full_pass(world: World) -> None:
    loop = Controller(world.syncer, interval=3600)
    loop.start()
    try:
        wait_for(lambda: loop.passes == 1)
        loop.trigger("webhook")
        wait_for(lambda: loop.passes == 2)
        assert loop.last is not None
        assert loop.last.skipped == "commit unchanged"
        loop.trigger("requested through the API: default/alpha", full=True)
        wait_for(lambda: loop.passes == 3)
        assert loop.last.skipped == ""  # Git read again: the requests are acted on
    finally:
        loop.stop(timeout=30)
