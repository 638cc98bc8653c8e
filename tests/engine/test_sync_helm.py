"""Reconcile passes end to end: a real git daemon in, Helm releases in an emulated cluster out.

Each test commits to a served repository and runs passes of a Syncer whose source is
pygit2 against ``git daemon`` and whose target is the helm target, the real Helm SDK
talking to ``kube_api`` on loopback. Events go through the EventRecorder into the same
emulator.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from controller.adapters.helmtarget import HelmTarget
from controller.adapters.kube import KubeConnection
from controller.core.planning import Action, DriftPolicy, FailurePolicy, PlanPolicy
from controller.engine.settings import Settings, SettingsError, build_leader, build_syncer
from tests.engine.conftest import NAMES, World, actions, workspace
from tests.support.gitserver import GitDaemon, OriginRepo
from tests.support.kubeapi import KubeApi


def test_a_cold_pass_installs_every_workspace_and_a_second_does_nothing(world: World) -> None:
    world.api.auto_ready = True  # the Deployments come up: Ready follows them
    first = world.run()

    assert first.ok
    assert actions(first) == dict.fromkeys(NAMES, "install:ok")
    assert world.releases() == dict.fromkeys(NAMES, (1, "deployed"))
    assert world.run().skipped == "commit unchanged"
    fresh = world.new_syncer(PlanPolicy(), target=world.new_target()).run_pass()
    assert fresh.results == ()
    assert fresh.plan is not None
    assert {s.action for s in fresh.plan.steps} == {Action.NONE}
    assert {s.reason for s in fresh.statuses} == {"InSync"}
    assert {s.commit for s in fresh.statuses} == {first.commit}  # read back from the release


def test_one_change_upgrades_one_release_and_a_removal_prunes_it(world: World) -> None:
    world.run()
    world.origin.write("clusters/edge/beta.yaml", workspace("beta", context=4096))
    world.origin.commit("beta: shorter context")

    upgraded = world.run()

    assert actions(upgraded) == {"beta": "upgrade:ok"}
    assert world.releases()["beta"] == (2, "deployed")
    world.origin.remove("clusters/edge/gamma.yaml")
    world.origin.commit("gamma: retire")

    pruned = world.run()

    assert actions(pruned) == {"gamma": "uninstall:ok"}
    assert "gamma" not in world.releases()
    assert world.api.get("deployments", "gamma") is None
    reasons = {(e["reason"], e["regarding"]["name"]) for e in events(world.api)}
    assert ("UpgradeSucceeded", "beta") in reasons
    assert ("Pruned", "modelsync-config") in reasons  # its Deployment is gone


def events(kube_api: KubeApi) -> list[dict[str, Any]]:
    return kube_api.objects("events.k8s.io/v1/events")


def test_events_name_the_deployment_with_camel_case_reasons(world: World) -> None:
    world.run()

    installed = [e for e in events(world.api) if e["reason"] == "InstallSucceeded"]
    assert len(installed) == 4
    deployment = world.api.get("deployments", "alpha")
    assert deployment is not None
    (alpha,) = [e for e in installed if e["regarding"]["name"] == "alpha"]
    assert alpha["regarding"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "alpha",
        "namespace": "default",
        "uid": deployment["metadata"]["uid"],
    }
    assert alpha["note"] == "install succeeded (revision 1)"


def test_a_failed_upgrade_is_rolled_back_on_the_next_pass(world: World) -> None:
    world.run()
    world.origin.write("clusters/edge/alpha.yaml", workspace("alpha", context=4096))
    world.origin.commit("alpha: shorter context")
    world.api.fail("PATCH", r"/deployments/alpha$", 500)

    failed = world.run()

    assert actions(failed) == {"alpha": "upgrade:failed"}
    assert world.releases()["alpha"] == (2, "failed")
    world.now += 10  # past the first backoff

    remediated = world.run()

    assert actions(remediated) == {"alpha": "rollback:ok"}
    assert world.releases()["alpha"] == (3, "deployed")
    reasons = [e["reason"] for e in events(world.api)]
    assert "UpgradeFailed" in reasons
    assert "RollbackSucceeded" in reasons


def test_a_failing_upgrade_is_retried_with_backoff_then_given_up_until_git_changes(
    world: World,
) -> None:
    world.run()
    world.origin.write("clusters/edge/alpha.yaml", workspace("alpha", context=4096))
    world.origin.commit("alpha: shorter context")
    seen = []
    for _ in range(6):
        world.api.fail("PATCH", r"/deployments/alpha$", 500)  # the new spec never applies
        for _ in range(2):
            world.now += 400  # past any backoff (capped at 300 s)
            result = world.run()
            seen += [f"{r.step.action}:{'ok' if r.ok else 'failed'}" for r in result.results]
    # Five failed upgrades, each rolled back to the working revision; then it waits for Git.
    assert seen == ["upgrade:failed", "rollback:ok"] * 5
    world.api.clear_faults()
    world.now += 400
    stopped = world.run()
    assert stopped.skipped == "commit unchanged"
    row = next(s for s in world.syncer.statuses.values() if s.name == "alpha")
    assert row.stalled
    world.origin.write("clusters/edge/alpha.yaml", workspace("alpha", context=2048))
    world.origin.commit("alpha: try again")
    assert actions(world.run()) == {"alpha": "upgrade:ok"}


def test_the_uninstall_policy_removes_a_failed_release(world: World) -> None:
    world.syncer = world.new_syncer(PlanPolicy(on_failure=FailurePolicy.UNINSTALL))
    world.run()
    world.origin.write("clusters/edge/alpha.yaml", workspace("alpha", context=4096))
    world.origin.commit("alpha: shorter context")
    world.api.fail("PATCH", r"/deployments/alpha$", 500)
    world.run()
    world.now += 10

    assert actions(world.run()) == {"alpha": "uninstall:ok"}
    assert "alpha" not in world.releases()


def test_unreadable_release_storage_stops_the_pass_and_prunes_nothing(world: World) -> None:
    world.run()
    world.origin.remove("clusters/edge/delta.yaml")
    world.origin.commit("delta: retire")
    world.api.fail("GET", r"/namespaces/default/secrets$", 500)

    stopped = world.run()

    assert stopped.error.startswith("cannot read the helm target: cannot list releases")
    assert stopped.results == ()
    assert "delta" in world.releases()
    assert actions(world.run()) == {"delta": "uninstall:ok"}


def test_ready_follows_the_workload(world: World) -> None:
    first = world.run()
    rows = {s.name: s for s in first.statuses}
    assert (rows["alpha"].ready, rows["alpha"].reason) == ("False", "Progressing")
    assert rows["alpha"].message.startswith("0/1 replicas available")
    world.api.set_ready("deployments", "alpha")

    again = world.run(full=True)

    rows = {s.name: s for s in again.statuses}
    assert rows["alpha"].ready == "True"
    assert rows["alpha"].extra == {"ResourceReady": "True", "InferenceReady": "True"}
    assert rows["beta"].ready == "False"


def test_readiness_is_followed_between_passes_without_reading_git(world: World) -> None:
    world.run()
    world.api.set_ready("deployments", "beta")
    skipped = world.run()  # same commit: no tree read, no plan, but the pods are re-read
    assert skipped.skipped == "commit unchanged"
    rows = {s.name: s for s in skipped.statuses}
    assert (rows["beta"].ready, rows["beta"].reason) == ("True", "InSync")
    assert rows["alpha"].ready == "False"


def test_drift_is_reported_in_warn_mode_and_corrected_in_correct_mode(world: World) -> None:
    world.run()
    live = world.api.get("deployments", "beta")
    assert live is not None
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "example.com/other:1"
    world.api.put(live)

    warned = world.run(full=True)

    assert warned.drifted == ("default/beta",)
    assert warned.results == ()
    assert [e["reason"] for e in events(world.api)].count("DriftDetected") == 1
    world.syncer = world.new_syncer(PlanPolicy(drift=DriftPolicy.CORRECT))

    corrected = world.run(full=True)

    assert actions(corrected) == {"beta": "upgrade:ok"}
    restored = world.api.get("deployments", "beta")
    assert restored is not None
    assert restored["spec"]["template"]["spec"]["containers"][0]["image"] != "example.com/other:1"
    assert world.run(full=True).drifted == ()


def test_settings_wire_the_helm_target(world: World, kube_api: KubeApi, tmp_path: Path) -> None:
    settings = Settings(
        cluster="edge",
        repo=world.source.url,
        target="helm",
        kubeconfig=kube_api.kubeconfig_path,
        state_dir=tmp_path / "state",
        drift="correct",
    )

    syncer = build_syncer(settings)

    assert isinstance(syncer.target, HelmTarget)
    assert syncer.policy.drift is DriftPolicy.CORRECT
    assert actions(syncer.run_pass()) == dict.fromkeys(NAMES, "install:ok")


def test_settings_build_the_leader_elector(kube_api: KubeApi) -> None:
    client = KubeConnection(kube_api.kubeconfig_path).client()
    pod = {"POD_NAME": "modelsync-7d9f-x2", "POD_NAMESPACE": "modelsync"}
    timings = {
        "leaseName": "ms",
        "leaseDuration": "6s",
        "renewDeadline": "4s",
        "retryPeriod": "500ms",
    }

    elector = build_leader(Settings(leader_election=timings), client, environ=pod)

    assert elector is not None
    assert (elector.namespace, elector.name, elector.identity) == (
        "modelsync",
        "ms",
        pod["POD_NAME"],
    )
    assert (elector.lease_duration, elector.renew_deadline, elector.retry_period) == (6, 4, 0.5)
    assert elector.step()
    assert build_leader(Settings(leader_election={"enabled": False}), client) is None
    with pytest.raises(SettingsError, match=r"leaderElection\.lease"):
        build_leader(Settings(leader_election={"lease": "x"}), client)
    with pytest.raises(SettingsError, match="retry_period < renew_deadline"):
        build_leader(Settings(leader_election={"renewDeadline": "1s"}), client)
    client.close()


def test_a_pass_of_many_releases(
    git_origin: OriginRepo, git_daemon: GitDaemon, kube_api: KubeApi, tmp_path: Path
) -> None:
    world = World(git_origin, git_daemon, kube_api, tmp_path)
    for i in range(20):
        git_origin.write(f"clusters/edge/model-{i:02d}.yaml", workspace(f"model-{i:02d}"))
    git_origin.commit("twenty more")
    started = time.perf_counter()
    cold = world.run()
    cold_s = time.perf_counter() - started
    started = time.perf_counter()
    resync = world.run(full=True)
    resync_s = time.perf_counter() - started
    print(
        f"\n{len(cold.results)} installs in one pass: {cold_s:.2f}s; "
        f"full resync with drift checks: {resync_s:.3f}s"
    )
    assert cold.ok
    assert len(cold.results) == 24
    assert resync.results == ()
    world.target.close()
