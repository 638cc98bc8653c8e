"""A RAGEngine through the helm target on the local control plane: installed beside the
Workspace its URL names, its Deployment scheduled and Ready, and uninstalled once the file
leaves Git while the Workspace stays."""

from __future__ import annotations

import pytest

from controller.adapters.kube import KubeClient
from tests.cluster.lab import lab_pass, node, pods, ready, settled
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.nodes import POOL_LABEL
from tests.support.helmpass import inference, outcome

pytestmark = pytest.mark.cluster


def ragengine(name: str, namespace: str, url: str) -> str:
    return (
        "apiVersion: kaito.sh/v1alpha1\nkind: RAGEngine\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        "spec:\n"
        "  embedding:\n    local: {modelID: sentence-transformers/all-MiniLM-L6-v2}\n"
        f"  inferenceService: {{url: '{url}', contextWindowSize: 4096}}\n"
    )


def test_a_rag_engine_is_installed_ready_and_pruned(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    world = lab_pass(control_plane, namespace)
    world.put("alpha", inference("alpha", namespace=namespace, context=4096))
    world.put("docs", ragengine("docs", namespace, "http://alpha/v1/chat/completions"))

    results = world.run()

    assert outcome(results) == {"alpha": "install:ok", "docs": "install:ok"}
    settled(lambda: world.target.workloads()[(namespace, "docs")].ready)
    [pod] = pods(kube, namespace, "docs")
    assert ready(pod)
    assert "nvidia.com/gpu" not in pod["spec"]["containers"][0]["resources"].get("limits", {})
    assert node(kube, pod)["metadata"]["labels"][POOL_LABEL]  # a node of the lab, on CPU
    config = kube.get(f"/api/v1/namespaces/{namespace}/configmaps/docs-config")
    assert 'inferenceModel: "phi-3.5-mini-instruct"' in config["data"]["rag.yaml"]
    assert world.observe()["docs"].chart == "workspace-rag"

    world.remove("docs")
    results = world.run()

    assert outcome(results) == {"docs": "uninstall:ok"}
    assert set(world.observe()) == {"alpha"}
    settled(lambda: not pods(kube, namespace, "docs"))
    world.target.close()
