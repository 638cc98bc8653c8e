"""A multi-node release on the real API server: the LeaderWorkerSet CRD (LWS v0.8.0, from
its Go module, tests/karpenter/fetch_crds.py) is installed on the local control plane and the
helm target installs, then uninstalls, a Workspace too large for one A10 node as one group
of two.

This proves the API server accepts the object the chart renders (its structural schema,
with defaulting and pruning, is the CRD's own), that Helm installs and removes it, and that
the helm target reads the group back as the release's workload. No LWS
controller runs on the control plane, so no leader or worker pods are created: that the
group starts, Ray forms and vLLM serves is left to a cluster with the LWS controller and
GPUs (docs/kaito.md says so).
"""

from __future__ import annotations

import pytest

from controller.adapters.kube import KubeClient, KubeNotFoundError
from tests.cluster.lab import install_crd, lab_pass, pods
from tests.controlplane.cluster import ControlPlane
from tests.karpenter.fetch_crds import LWS, fetch
from tests.support.helmpass import inference, outcome

pytestmark = pytest.mark.cluster

# 27.5 GiB of weights: more than one A10 (24 GB) holds, and the lab's A10 nodes have one GPU
# each, so resource.count 2 makes it one group of two nodes (tensor-parallel 1, pipeline 2).
MODEL = "deepseek-r1-distill-qwen-14b"
GROUP = "apis/leaderworkerset.x-k8s.io/v1"


def test_a_model_larger_than_a_node_installs_as_one_leader_worker_set(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    install_crd(kube, fetch(LWS) / LWS.crds[0])
    world = lab_pass(control_plane, namespace)
    world.put(
        "big",
        inference("big", namespace=namespace, preset=MODEL).replace(
            "resource: {}", "resource: {count: 2}"
        ),
    )
    [desired] = world.desired()
    assert desired.values["multiNode"] == {"nodes": 2}
    assert desired.values["resources"]["gpus"] == 1

    assert outcome(world.run()) == {"big": "install:ok"}

    group = kube.get(f"/{GROUP}/namespaces/{namespace}/leaderworkersets/big")
    spec = group["spec"]
    assert spec["replicas"] == 1
    assert spec["leaderWorkerTemplate"]["size"] == 2
    leader = spec["leaderWorkerTemplate"]["leaderTemplate"]["spec"]
    worker = spec["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    for pod in (leader, worker):
        assert pod["nodeSelector"]["modelsync.dev/pool"] == "a10"
        [server] = pod["containers"]
        assert server["resources"]["limits"]["nvidia.com/gpu"] in (1, "1")
        assert server["securityContext"]["runAsNonRoot"] is True
    assert "LWS_LEADER_ADDRESS" in worker["containers"][0]["args"][0]
    # The API server kept what the chart wrote (a field its schema lacks would be pruned).
    assert leader["containers"][0]["startupProbe"]["httpGet"]["path"] == "/health"
    # Every field the chart set is in the stored object, so the release shows no drift
    # (a field the CRD's schema pruned would show as drift on every pass).
    assert world.target.drifted(list(world.observe().values())) == set()
    # ... and a change to the group is drift: the check does read the LeaderWorkerSet.
    path = f"/{GROUP}/namespaces/{namespace}/leaderworkersets/big"
    kube.patch(path, {"spec": {"leaderWorkerTemplate": {"size": 3}}})
    assert world.target.drifted(list(world.observe().values())) == {(namespace, "big")}
    kube.patch(path, {"spec": {"leaderWorkerTemplate": {"size": 2}}})
    service = kube.get(f"/api/v1/namespaces/{namespace}/services/big")
    assert service["spec"]["selector"]["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    # No LWS controller here: the object is stored, nothing creates its pods, and the
    # helm target reads the group's state from it (no status yet).
    assert pods(kube, namespace, "big") == []
    state = world.target.workloads()[(namespace, "big")]
    assert (state.kind, state.ready) == ("LeaderWorkerSet", False)
    assert state.message.startswith("0/1 multi-node groups ready; no status")

    world.remove("big")
    assert outcome(world.run()) == {"big": "uninstall:ok"}
    with pytest.raises(KubeNotFoundError):
        kube.get(f"/{GROUP}/namespaces/{namespace}/leaderworkersets/big")
    world.target.close()
