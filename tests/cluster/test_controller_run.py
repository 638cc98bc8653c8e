"""`modelsync run` against the local control plane: two replicas elect a leader on a real
Lease, the leader reconciles a Git repository into a release whose Ready follows the real
Deployment (read again each pass, every 2s here) and records Events, a leader paused
(SIGSTOP) past its lease loses to the standby, and steps down when resumed."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.adapters.kube import KubeClient
from tests.cluster.lab import lab_cluster, settled
from tests.controlplane.cluster import ControlPlane
from tests.support.gitserver import GitDaemon, OriginRepo
from tests.support.helmpass import inference
from tests.support.replica import Replica

pytestmark = pytest.mark.cluster

# Short, so a takeover takes seconds; client-go's proportions (15s/10s/2s by default).
LEASE = "{enabled: true, leaseDuration: 4s, renewDeadline: 3s, retryPeriod: 1s}"


@pytest.fixture
def replicas(
    control_plane: ControlPlane,
    namespace: str,
    git_origin: OriginRepo,
    git_daemon: GitDaemon,
    tmp_path: Path,
) -> Iterator[list[Replica]]:
    git_origin.write("clusters/lab/cluster.yaml", lab_cluster(namespace))
    git_origin.write("clusters/lab/alpha.yaml", inference("alpha", namespace=namespace))
    git_origin.commit("alpha")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"cluster: lab\nrepo: {{url: '{git_daemon.url(git_origin.name)}', branch: main}}\n"
        f"interval: 2s\ntarget: helm\nleaderElection: {LEASE}\n"
    )
    started = [
        Replica(n, config, control_plane.kubeconfig, namespace)
        for n in ("modelsync-a", "modelsync-b")
    ]
    try:
        yield started
    finally:
        logs = [r.stop() for r in started]
        for replica, log in zip(started, logs, strict=True):
            assert replica.process.returncode == 0, log


def holder(kube: KubeClient, namespace: str) -> str:
    lease = kube.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/modelsync")
    return str(lease["spec"].get("holderIdentity") or "")


def test_one_leader_reconciles_and_a_paused_one_loses_the_lease(
    kube: KubeClient, namespace: str, replicas: list[Replica]
) -> None:
    settled(lambda: any(r.status().get("leader") for r in replicas))
    leader, standby = sorted(replicas, key=lambda r: not r.status().get("leader"))
    assert holder(kube, namespace) == leader.name
    settled(lambda: leader.status().get("passes", 0) >= 1)
    settled(
        lambda: (
            [(w["name"], w["ready"]) for w in leader.status().get("workspaces", [])]
            == [("alpha", "True")]
        )
    )
    events = kube.list(f"/apis/events.k8s.io/v1/namespaces/{namespace}/events")
    assert "InstallSucceeded" in {e.get("reason") for e in events}
    assert standby.status().get("leader") is False
    assert standby.status().get("passes", 0) == 0

    leader.process.send_signal(signal.SIGSTOP)
    settled(lambda: standby.status().get("leader") is True, timeout=30)
    assert holder(kube, namespace) == standby.name
    settled(lambda: standby.status().get("passes", 0) >= 1)

    leader.process.send_signal(signal.SIGCONT)
    settled(lambda: leader.status().get("leader") is False, timeout=30)
    assert holder(kube, namespace) == standby.name
    assert standby.status().get("leader") is True
