"""ModelWorkspace objects on the local control plane: the controller chart installs the CRD;
`modelsync run` writes one object per Workspace whose Ready follows the real Deployment
(`kubectl wait --for=condition=Ready` returns once the fake kubelet marks the pod Ready);
`kubectl get mws` prints the columns; `modelsync suspend|resume|reconcile|reset|history`
work with nothing but a kubeconfig and the running controller obeys them; the object of a
Workspace removed from Git goes with its release.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from controller.adapters.bundled import load_bundle
from controller.adapters.kube import JSON, KubeClient, KubeConflictError, KubeNotFoundError
from tests.cluster.lab import condition, lab_cluster, settled
from tests.controlplane.cluster import ControlPlane
from tests.support.gitserver import GitDaemon, OriginRepo
from tests.support.helmpass import inference
from tests.support.replica import Replica

pytestmark = pytest.mark.cluster

CHART = load_bundle().charts_dir / "modelsync"
CRD = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/modelworkspaces.modelsync.dev"
OBJECTS = "/apis/modelsync.dev/v1alpha1"
PINNED = "  annotations: {modelsync.dev/chart-version: 9.9.9}\n"
#: Slow steps (an upgrade's new pod, a uninstall) on a loaded two-core machine.
STEP = 90.0


def kubectl() -> str:
    found = shutil.which("kubectl")
    assert found, "kubectl is needed on PATH for these tests (apt-get install kubernetes-client)"
    return found


def install_crd(kube: KubeClient) -> None:
    """The chart's CRD, as `helm install` creates it when absent; waits until Established."""
    body = yaml.safe_load((CHART / "crds" / "modelworkspaces.modelsync.dev.yaml").read_text())
    with contextlib.suppress(KubeConflictError):
        kube.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body)
    settled(lambda: condition(kube.get(CRD), "Established").get("status") == "True")


def mws(kube: KubeClient, namespace: str, name: str) -> JSON | None:
    try:
        return kube.get(f"{OBJECTS}/namespaces/{namespace}/modelworkspaces/{name}")
    except KubeNotFoundError:
        return None


def modelsync(plane: ControlPlane, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a person runs it: only a kubeconfig."""
    return subprocess.run(
        [sys.executable, "-m", "controller", *args, "--kubeconfig", str(plane.kubeconfig)],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


def test_the_controller_chart_installs_the_crd(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    with contextlib.suppress(KubeNotFoundError):
        kube.request("DELETE", CRD)
    settled(lambda: _absent(kube, CRD))
    repo = {"url": "https://git.example.com/clusters.git"}
    values = {"managedNamespaces": [namespace], "config": {"cluster": "lab", "repo": repo}}
    # A release name of its own: the chart's ClusterRoles (named after the release) outlive
    # the test's namespace, and another test installs the chart as "modelsync".
    with helm.Config(kubeconfig_path=control_plane.kubeconfig, namespace=namespace) as admin:
        admin.install(CHART, "crd-check", values)
        try:
            settled(lambda: condition(kube.get(CRD), "Established").get("status") == "True")
        finally:
            admin.uninstall("crd-check")
    crd = kube.get(CRD)
    assert crd["spec"]["names"]["shortNames"] == ["mws"]
    columns = [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]
    assert columns[:6] == ["Model", "Pool", "GPUs", "Ready", "Revision", "Age"]


def _absent(kube: KubeClient, path: str) -> bool:
    try:
        kube.get(path)
    except KubeNotFoundError:
        return True
    return False


@pytest.fixture
def controller(  # noqa: PLR0917 - pytest passes fixtures by position
    control_plane: ControlPlane,
    kube: KubeClient,
    namespace: str,
    git_origin: OriginRepo,
    git_daemon: GitDaemon,
    tmp_path: Path,
) -> Iterator[Replica]:
    install_crd(kube)
    git_origin.write("clusters/lab/cluster.yaml", lab_cluster(namespace))
    git_origin.write("clusters/lab/alpha.yaml", inference("alpha", namespace=namespace))
    git_origin.write(
        "clusters/lab/broken.yaml",
        inference("broken", namespace=namespace).replace("metadata:\n", "metadata:\n" + PINNED),
    )
    git_origin.commit("alpha and broken")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"cluster: lab\nrepo: {{url: '{git_daemon.url(git_origin.name)}', branch: main}}\n"
        "interval: 2s\ntarget: helm\n"
    )
    replica = Replica("modelsync-a", config, control_plane.kubeconfig, namespace)
    try:
        yield replica
    finally:
        log = replica.stop()
        assert replica.process.returncode == 0, log


def test_workspaces_show_in_the_cluster_and_obey_requests_through_the_api(
    control_plane: ControlPlane,
    kube: KubeClient,
    namespace: str,
    git_origin: OriginRepo,
    controller: Replica,
) -> None:
    settled(lambda: mws(kube, namespace, "alpha") is not None, timeout=STEP)
    waited = subprocess.run(
        [kubectl(), "--kubeconfig", str(control_plane.kubeconfig), "-n", namespace, "wait",
         "--for=condition=Ready", "modelworkspace/alpha", "--timeout=90s"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert waited.returncode == 0, waited.stderr
    alpha = mws(kube, namespace, "alpha")
    assert alpha is not None
    status = alpha["status"]
    assert status["observedGeneration"] == alpha["metadata"]["generation"]
    assert status["lastAppliedCommit"] == git_origin.git("rev-parse", "HEAD").strip()
    assert status["endpoint"] == f"http://alpha.{namespace}.svc/v1"
    assert condition(alpha, "Stalled")["status"] == "False"
    broken = mws(kube, namespace, "broken")
    assert broken is not None
    assert condition(broken, "Ready")["status"] == "False"
    assert "9.9.9" in condition(broken, "Ready")["message"]

    table = subprocess.run(
        [kubectl(), "--kubeconfig", str(control_plane.kubeconfig), "get", "mws", "-A"],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout.splitlines()  # fmt: skip
    print("\n" + "\n".join(table))
    assert table[0].split() == [
        "NAMESPACE", "NAME", "MODEL", "POOL", "GPUS", "READY", "REVISION", "AGE"
    ]  # fmt: skip
    row = next(r for r in (line.split() for line in table) if r[:2] == [namespace, "alpha"])
    assert row[1:7] == ["alpha", "phi-3.5-mini-instruct", status["pool"], "1", "True", "1"]

    who = kube.create(
        "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
    )["status"]["userInfo"]["username"]
    why = ("--reason", "GPU maintenance")
    done = modelsync(control_plane, "suspend", "alpha", "-n", namespace, *why)
    assert done.returncode == 0, done.stderr
    assert (mws(kube, namespace, "alpha") or {})["status"]["suspended"]["by"] == who
    settled(lambda: _row(controller, "alpha").get("suspended") is True)
    assert _row(controller, "alpha")["message"] == f"suspended by {who}: GPU maintenance"

    shorter = inference("alpha", namespace=namespace, context=4096)
    git_origin.write("clusters/lab/alpha.yaml", shorter)
    head = git_origin.commit("alpha: shorter context")
    settled(lambda: controller.status().get("commit") == head, timeout=STEP)
    assert _history(control_plane, namespace, "alpha") == [(1, "deployed")]

    done = modelsync(control_plane, "resume", "alpha", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert _history(control_plane, namespace, "alpha") == [(1, "superseded"), (2, "deployed")]
    assert "suspended" not in (mws(kube, namespace, "alpha") or {})["status"]

    done = modelsync(control_plane, "reconcile", "alpha", "-n", namespace)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"reconciled {namespace}/alpha: Ready=")

    done = modelsync(control_plane, "reset", "broken", "-n", namespace)
    assert done.returncode == 0, done.stderr
    settled(lambda: f"reset requested for {namespace}/broken" in controller.log.read_text())

    git_origin.remove("clusters/lab/alpha.yaml")
    git_origin.commit("retire alpha")
    settled(lambda: mws(kube, namespace, "alpha") is None, timeout=STEP)
    assert mws(kube, namespace, "broken") is not None
    missing = modelsync(control_plane, "history", "alpha", "-n", namespace)
    assert missing.returncode == 2
    assert "no ModelWorkspace" in missing.stderr


def _row(replica: Replica, name: str) -> dict[str, Any]:
    rows = [w for w in replica.status().get("workspaces", []) if w["name"] == name]
    return rows[0] if rows else {}


def _history(plane: ControlPlane, namespace: str, name: str) -> list[tuple[int, str]]:
    done = modelsync(plane, "history", name, "-n", namespace, "-o", "json")
    assert done.returncode == 0, done.stderr
    return [(r["revision"], r["status"]) for r in json.loads(done.stdout)]
