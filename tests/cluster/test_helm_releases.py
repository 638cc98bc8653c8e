"""The helm target against the local control plane: real Helm storage, real controllers,
the real scheduler, fake GPU nodes (tests/controlplane).

Each test reconciles a few Workspaces of the lab cluster in its own namespace, as one pass
of the engine does, and follows what Kubernetes makes of the releases: the Deployment's
ReplicaSet and Pod, the node the scheduler picked, readiness as the deployment controller
reports it, garbage collection after an uninstall.
"""

from __future__ import annotations

import helm_python as helm
import pytest

from controller.adapters.kube import KubeClient, KubeNotFoundError
from tests.cluster.lab import (
    condition,
    gpus,
    lab_pass,
    node,
    pods,
    ready,
    settled,
    unschedulable,
)
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.nodes import POOL_LABEL
from tests.support.helmpass import COMMIT, inference, outcome, tuning

pytestmark = pytest.mark.cluster

# 61 GiB of weights: more than an A10 holds (and the A10 nodes have one GPU each), so it
# needs the H100 pool, whose taint it must tolerate.
BIG_MODEL = "qwen2.5-coder-32b-instruct"
TOLERATE_H100 = "tolerations:\n  - {key: sku, operator: Equal, value: h100, effect: NoSchedule}\n"


def test_an_installed_workspace_runs_ready_on_a_gpu_node_of_its_pool(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    world = lab_pass(control_plane, namespace)
    world.put("alpha", inference("alpha", namespace=namespace))

    results = world.run()

    assert outcome(results) == {"alpha": "install:ok"}
    assert results["alpha"].revision == 1
    settled(lambda: world.target.workloads()[(namespace, "alpha")].ready)
    state = world.target.workloads()[(namespace, "alpha")]
    assert state.conditions == {"ResourceReady": "True", "InferenceReady": "True"}
    [pod] = pods(kube, namespace, "alpha")
    assert pod["status"]["phase"] == "Running"
    assert ready(pod)
    assert node(kube, pod)["metadata"]["labels"][POOL_LABEL] == "a10"
    assert gpus(pod) == "1"
    # Helm's release record is a Secret the real API server stored.
    observed = world.observe()["alpha"]
    assert (observed.status, observed.revision, observed.commit) == ("deployed", 1, COMMIT)
    world.target.close()


def test_a_model_too_big_for_the_a10s_runs_on_the_tainted_h100_node(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    world = lab_pass(control_plane, namespace)
    world.put("big", inference("big", namespace=namespace, preset=BIG_MODEL, extra=TOLERATE_H100))
    [desired] = world.desired()
    wanted = str(desired.values["resources"]["gpus"])

    assert outcome(world.run()) == {"big": "install:ok"}

    settled(lambda: world.target.workloads()[(namespace, "big")].ready)
    [pod] = pods(kube, namespace, "big")
    assert node(kube, pod)["metadata"]["labels"][POOL_LABEL] == "h100"
    assert gpus(pod) == wanted
    world.target.close()


def test_an_upgrade_rolls_out_a_new_ready_pod(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    world = lab_pass(control_plane, namespace)
    world.put("alpha", inference("alpha", namespace=namespace))
    world.run()
    settled(lambda: world.target.workloads()[(namespace, "alpha")].ready)
    [before] = pods(kube, namespace, "alpha")
    world.put("alpha", inference("alpha", namespace=namespace, context=4096))

    results = world.run()

    assert outcome(results) == {"alpha": "upgrade:ok"}
    assert results["alpha"].revision == 2
    name = before["metadata"]["name"]
    settled(
        lambda: (
            [p["metadata"]["name"] for p in pods(kube, namespace, "alpha") if ready(p)]
            not in ([], [name])
            and len(pods(kube, namespace, "alpha")) == 1
        )
    )
    deployment = kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/alpha")
    assert deployment["status"]["observedGeneration"] == 2
    assert condition(deployment, "Available")["status"] == "True"
    with helm.Config(kubeconfig_path=control_plane.kubeconfig, namespace=namespace) as config:
        assert config.get_values("alpha")["vllm"]["maxModelLen"] == 4096
    # Readiness as the controller reads it converges too (its own list of the workloads,
    # made after the rollout the checks above saw, may first catch the new pod unavailable).
    settled(lambda: world.target.workloads()[(namespace, "alpha")].ready)
    world.target.close()


def test_a_removed_workspace_is_uninstalled_and_its_pods_are_collected(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    world = lab_pass(control_plane, namespace)
    world.put("alpha", inference("alpha", namespace=namespace))
    world.put("beta", inference("beta", namespace=namespace))
    world.run()
    states = world.target.workloads
    settled(lambda: states()[(namespace, "alpha")].ready and states()[(namespace, "beta")].ready)
    world.remove("beta")

    assert outcome(world.run()) == {"beta": "uninstall:ok"}

    # The garbage collector deletes the ReplicaSet and its Pod; the kubelet finishes that.
    settled(lambda: pods(kube, namespace, "beta") == [])
    with pytest.raises(KubeNotFoundError):
        kube.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/beta")
    assert "beta" not in world.observe()
    assert world.target.workloads()[(namespace, "alpha")].ready
    world.target.close()


def test_a_workspace_beyond_the_live_gpus_stays_pending(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    # Git says the A10 pool has three nodes; two are there (one lost, say). Validation
    # passes, Helm installs all three, and the scheduler places only two.
    world = lab_pass(control_plane, namespace, nodes={"a10": 3})
    names = ["one", "two", "three"]
    for name in names:
        world.put(name, inference(name, namespace=namespace))

    assert outcome(world.run()) == dict.fromkeys(names, "install:ok")

    def verdicts() -> list[str]:
        found = [p for name in names for p in pods(kube, namespace, name)]
        return sorted("ready" if ready(p) else unschedulable(p) or "?" for p in found)

    settled(lambda: "?" not in verdicts() and len(verdicts()) == 3)
    ready_count = verdicts().count("ready")
    [message] = [v for v in verdicts() if v != "ready"]
    assert ready_count == 2
    assert "Insufficient nvidia.com/gpu" in message
    states = world.target.workloads()
    assert sorted(bool(states[(namespace, n)].ready) for n in names) == [False, True, True]
    world.target.close()


def test_a_tuning_workspace_runs_its_job_to_completion(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    world = lab_pass(control_plane, namespace)
    world.put("tune", tuning(namespace=namespace))

    assert outcome(world.run()) == {"tune": "install:ok"}

    settled(lambda: world.target.workloads()[(namespace, "tune")].ready)
    state = world.target.workloads()[(namespace, "tune")]
    assert state.kind == "Job"
    assert state.conditions == {"JobStarted": "True", "WorkspaceSucceeded": "True"}
    ref = world.target.regarding(namespace, "tune")
    assert ref is not None
    job = kube.get(f"/apis/batch/v1/namespaces/{namespace}/jobs/{ref.name}")
    assert condition(job, "Complete")["status"] == "True"
    [pod] = kube.list(f"/api/v1/namespaces/{namespace}/pods", label_selector=f"job-name={ref.name}")
    assert pod["status"]["phase"] == "Succeeded"
    assert gpus(pod) != "0"
    world.target.close()
