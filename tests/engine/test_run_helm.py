"""`modelsync run` as the controller chart runs it: helm target, Lease, Events, SIGTERM.

The process talks to the API emulator through a kubeconfig and to a git daemon, exactly as
it would to a cluster and a Git host.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.gitserver import GitDaemon, OriginRepo, free_port
from tests.support.kubeapi import KubeApi
from tests.support.waiting import wait_for

CLUSTER = (
    "apiVersion: modelsync.dev/v1alpha1\nkind: Cluster\nmetadata: {name: edge}\n"
    "spec:\n  nodePools:\n    - {name: l4, gpu: L4, gpusPerNode: 1, nodes: 4}\n"
)
WORKSPACE = (
    "apiVersion: kaito.sh/v1beta1\nkind: Workspace\nmetadata: {name: phi}\n"
    "resource: {}\ninference:\n  preset: {name: phi-3.5-mini-instruct}\n"
)


def status(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=2) as response:
            data: dict[str, Any] = json.load(response)
            return data
    except OSError:
        return {}


def test_the_controller_holds_the_lease_installs_records_events_and_lets_go(
    git_origin: OriginRepo, git_daemon: GitDaemon, kube_api: KubeApi, tmp_path: Path
) -> None:
    git_origin.write("clusters/edge/cluster.yaml", CLUSTER)
    git_origin.write("clusters/edge/phi.yaml", WORKSPACE)
    git_origin.commit("initial")
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"cluster: edge\nrepo: {{url: '{git_daemon.url(git_origin.name)}', branch: main}}\n"
        f"interval: 1h\ntarget: helm\nlisten: '127.0.0.1:{port}'\n"
        "leaderElection: {enabled: true, leaseDuration: 15s, renewDeadline: 10s, retryPeriod: 1s}\n"
    )
    env = os.environ | {"POD_NAME": "modelsync-0", "POD_NAMESPACE": "default"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller",
            "run",
            "--config",
            str(config),
            "--kubeconfig",
            str(kube_api.kubeconfig_path),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: status(port).get("passes", 0) >= 1)
        lease = kube_api.get("leases", "modelsync", "default")
        assert lease is not None
        assert lease["spec"]["holderIdentity"] == "modelsync-0"
        assert kube_api.get("deployments", "phi") is not None
        reasons = {e["reason"] for e in kube_api.objects("events.k8s.io/v1/events")}
        assert "InstallSucceeded" in reasons
        rows = status(port)["workspaces"]
        assert [(r["name"], r["reason"]) for r in rows] == [("phi", "Progressing")]  # no pods
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    released = kube_api.get("leases", "modelsync", "default")
    assert released is not None
    assert not released["spec"].get("holderIdentity")
