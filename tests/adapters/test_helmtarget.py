"""The helm target against the emulated API server: the real Helm SDK, nothing patched.

Each test validates a few Workspaces with the real core, plans against what the target
observes and applies the plan, as one reconcile pass does (without Git; the engine test
adds that), then looks at the release records and objects in the emulator.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from controller.adapters.helmtarget import LABEL_COMMIT
from controller.core.planning import (
    Action,
    DriftPolicy,
    PlanPolicy,
    ReleaseState,
    Step,
)
from controller.core.ports import TargetError
from tests.adapters.conftest import (
    CHARTS,
    COMMIT,
    TUNING,
    Pass,
    helm_config,
    inference,
    outcome,
    records,
)
from tests.support.kubeapi import KubeApi
from tests.support.waiting import wait_for

# --- install, no-op, upgrade, uninstall ------------------------------------------------


def test_install_labels_the_release_and_creates_its_objects(world: Pass) -> None:
    results = world.run()

    assert outcome(results) == {"alpha": "install:ok", "beta": "install:ok"}
    assert results["alpha"].revision == 1
    assert results["alpha"].message == "installed workspace-inference 0.1.0 (revision 1)"
    alpha = world.observe()["alpha"]
    desired = {d.name: d for d in world.desired()}["alpha"]
    assert alpha.labels == {
        "modelsync.dev/managed-by": "modelsync",
        "modelsync.dev/cluster": "edge",
        "modelsync.dev/workspace": "alpha",
        "modelsync.dev/digest": desired.digest,
        "modelsync.dev/source": desired.labels["modelsync.dev/source"],
        LABEL_COMMIT: COMMIT,
    }
    assert (alpha.status, alpha.revision, alpha.commit) == ("deployed", 1, COMMIT)
    for kind, name in (
        ("deployments", "alpha"),
        ("services", "alpha"),
        ("configmaps", "alpha-config"),
    ):
        assert world.api.get(kind, name) is not None
    info = helm_config(world.api).get_all("alpha")["info"]
    assert info["description"].startswith(f"modelsync install at {COMMIT[:12]}")
    # No waiting: the Deployment has no ready replica, the install succeeded all the same.
    deployment = world.api.get("deployments", "alpha")
    assert deployment is not None
    assert "availableReplicas" not in deployment.get("status", {})


def test_a_second_pass_changes_nothing_and_reads_only_release_storage(world: Pass) -> None:
    world.run()
    before = len(world.api.requests())

    steps = world.plan(PlanPolicy(drift=DriftPolicy.OFF))

    assert {(s.name, s.state) for s in steps} == {
        ("alpha", ReleaseState.IN_SYNC),
        ("beta", ReleaseState.IN_SYNC),
    }
    # Two namespaces: Helm's reachability probe and one storage list each.
    assert [(r.method, r.path) for r in world.api.requests()[before:]] == [
        ("GET", "/version"),
        ("GET", "/api/v1/namespaces/default/secrets"),
        ("GET", "/version"),
        ("GET", "/api/v1/namespaces/team-a/secrets"),
    ]


def test_a_changed_workspace_is_upgraded_to_revision_2(world: Pass) -> None:
    world.run()
    world.put("beta", inference("beta", context=4096))

    results = world.run()

    assert outcome(results) == {"beta": "upgrade:ok"}
    assert results["beta"].revision == 2
    assert records(world.api, "beta") == [("1", "superseded"), ("2", "deployed")]
    values = helm_config(world.api).get_values("beta")
    assert values["vllm"]["maxModelLen"] == 4096


def test_a_removed_workspace_is_uninstalled_with_its_objects(world: Pass) -> None:
    world.run()
    world.remove("beta")

    assert outcome(world.run()) == {"beta": "uninstall:ok"}
    assert records(world.api, "beta") == []
    assert world.api.get("deployments", "beta") is None
    assert world.api.get("deployments", "alpha") is not None


def test_releases_in_another_namespace_are_installed_without_creating_it(kube_api: KubeApi) -> None:
    world = Pass(kube_api)
    world.put("gamma", inference("gamma", namespace="team-a"))

    assert outcome(world.run()) == {"gamma": "install:ok"}
    assert kube_api.get("deployments", "gamma", "team-a") is not None
    assert not any(r.path.endswith("/namespaces") for r in kube_api.requests())
    world.target.close()


# --- releases modelsync does not own -----------------------------------------------------


def test_foreign_releases_are_reported_and_never_touched(world: Pass) -> None:
    alpha = {d.name: d for d in world.desired()}["alpha"]
    chart = CHARTS.path(alpha.chart, alpha.chart_version)
    values = json.loads(json.dumps(alpha.values))
    with helm_config(world.api) as config:
        config.install(chart, "alpha", values)  # by hand, no labels
        config.install(
            chart,
            "omega",
            values,
            labels={"modelsync.dev/managed-by": "modelsync", "modelsync.dev/cluster": "other"},
        )
    before = len(world.api.requests())

    steps = {s.name: s for s in world.plan()}
    results = world.run()

    assert steps["alpha"].state is ReleaseState.FOREIGN
    assert steps["alpha"].action is Action.NONE
    assert "omega" not in steps  # another cluster's, and Git never named it
    assert outcome(results) == {"beta": "install:ok"}
    assert records(world.api, "alpha") == [("1", "deployed")]
    assert records(world.api, "omega") == [("1", "deployed")]
    touched = [r for r in world.api.requests()[before:] if r.method != "GET"]
    assert [r.path for r in touched if "alpha" in r.path or "omega" in r.path] == []


# --- failures and remediation ---------------------------------------------------------


def test_unreadable_release_storage_stops_the_pass(world: Pass) -> None:
    world.run()
    world.remove("alpha")
    world.remove("beta")
    world.api.fail("GET", r"/namespaces/default/secrets$", 500)

    with pytest.raises(TargetError, match=r"cannot list releases in default: .*500"):
        world.observe()
    assert records(world.api, "alpha") == [("1", "deployed")]


def test_a_slow_api_fails_one_action_at_its_deadline_and_the_rest_go_on(
    kube_api: KubeApi,
) -> None:
    world = Pass(kube_api, timeout=0.5)
    world.put("alpha", inference("alpha"))
    world.put("beta", inference("beta"))
    kube_api.delay("PATCH", r"/deployments/alpha$", 5)

    results = world.run()

    assert outcome(results) == {"alpha": "install:failed", "beta": "install:ok"}
    assert results["alpha"].retryable
    assert results["alpha"].message.startswith("install cancelled after 0.5s")
    assert results["alpha"].seconds < 2.5
    assert world.observe()["alpha"].status == "failed"
    world.target.close()


def test_a_release_list_never_answered_fails_the_pass_at_the_deadline(kube_api: KubeApi) -> None:
    # Found by the fault suite (tests/faults, "API timeout"): client-go has no timeout of
    # its own, so a held storage list kept a pass (and the Lease) for minutes.
    world = Pass(kube_api, timeout=0.5)
    world.put("alpha", inference("alpha"))
    assert outcome(world.run()) == {"alpha": "install:ok"}
    kube_api.delay("GET", r"/namespaces/default/secrets$", 5)

    started = time.monotonic()
    with pytest.raises(TargetError, match=r"cannot list releases in default: no answer within"):
        world.observe()
    assert time.monotonic() - started < 2.5
    with pytest.raises(TargetError, match="an earlier read is still waiting"):
        world.observe()  # no second request piles up behind the held one
    wait_for(lambda: not _raises(world.observe), timeout=10, every=0.1)
    assert world.observe()["alpha"].status == "deployed"
    world.target.close()


def _raises(call: Callable[[], object]) -> bool:
    try:
        call()
    except TargetError:
        return True
    return False


def test_values_the_chart_refuses_fail_fast_and_reach_no_cluster(world: Pass) -> None:
    alpha = {d.name: d for d in world.desired()}["alpha"]
    bad = replace(alpha, values={**alpha.values, "replicaCount": "many"})
    step = Step(Action.INSTALL, ReleaseState.ABSENT, "default", "alpha", "test", desired=bad)
    before = len(world.api.requests())

    result = world.target.apply(step, COMMIT)

    assert not result.ok
    assert not result.retryable
    assert "replicaCount" in result.message
    assert world.api.requests()[before:] == []


# --- drift and workloads --------------------------------------------------------------


def test_a_live_edit_is_drift_and_correct_mode_restores_it(world: Pass) -> None:
    world.run()
    observed = list(world.observe().values())
    assert world.target.drifted(observed) == set()
    live = world.api.get("deployments", "alpha")
    assert live is not None
    live["spec"]["replicas"] = 5
    world.api.put(live)

    assert world.target.drifted(observed) == {("default", "alpha")}
    steps = {s.name: s for s in world.plan(PlanPolicy(drift=DriftPolicy.WARN))}
    assert (steps["alpha"].state, steps["alpha"].action) == (ReleaseState.DRIFTED, Action.NONE)

    results = world.run(PlanPolicy(drift=DriftPolicy.CORRECT))

    assert outcome(results) == {"alpha": "upgrade:ok"}
    restored = world.api.get("deployments", "alpha")
    assert restored is not None
    assert restored["spec"]["replicas"] == 1
    assert world.target.drifted(list(world.observe().values())) == set()


def test_a_deleted_object_is_drift(world: Pass) -> None:
    world.run()
    world.target.connection.client().request("DELETE", "/api/v1/namespaces/default/services/beta")

    assert world.target.drifted(list(world.observe().values())) == {("default", "beta")}


def test_ready_follows_the_deployment(world: Pass) -> None:
    world.run()
    world.observe()

    states = world.target.workloads()
    assert states[("default", "alpha")].ready is False
    assert states[("default", "alpha")].message == (
        "0/1 replicas available; generation 1 not yet observed"
    )
    world.api.set_ready("deployments", "alpha")

    states = world.target.workloads()
    assert states[("default", "alpha")].ready is True
    assert states[("default", "alpha")].conditions == {
        "ResourceReady": "True",
        "InferenceReady": "True",
    }
    assert states[("default", "beta")].ready is False
    ref = world.target.regarding("default", "alpha")
    assert ref is not None
    assert (ref.kind, ref.name, ref.namespace) == ("Deployment", "alpha", "default")
    assert ref.uid


def test_a_tuning_release_reports_its_job(kube_api: KubeApi) -> None:
    kube_api.auto_ready = True
    world = Pass(kube_api)
    world.put("tune", TUNING)

    assert outcome(world.run()) == {"tune": "install:ok"}
    state = world.target.workloads()[("team-a", "tune")]

    assert state.kind == "Job"
    assert state.ready is True
    assert state.conditions == {"JobStarted": "True", "WorkspaceSucceeded": "True"}
    ref = world.target.regarding("team-a", "tune")
    assert ref is not None
    assert ref.kind == "Job"
    assert ref.name.startswith("tune-")  # the chart puts the values' hash in the Job's name
    # Kubernetes deletes a finished Job after its TTL: that is not drift (nor a reason to
    # train again in correct mode).
    world.target.connection.client().request(
        "DELETE", f"/apis/batch/v1/namespaces/team-a/jobs/{ref.name}"
    )
    assert world.target.drifted(list(world.observe().values())) == set()
    world.target.close()


def test_a_pass_over_many_releases(kube_api: KubeApi) -> None:
    world = Pass(kube_api)
    names = [f"model-{i:02d}" for i in range(12)]
    for name in names:
        world.put(name, inference(name))
    started = time.perf_counter()
    assert set(outcome(world.run()).values()) == {"install:ok"}
    cold = time.perf_counter() - started
    started = time.perf_counter()
    assert world.run() == {}
    noop = time.perf_counter() - started
    print(f"\n{len(names)} installs: {cold:.2f}s; no-op pass with drift checks: {noop:.3f}s")
    assert noop < cold
    world.target.close()
