"""Server-side apply of Karpenter objects, against the emulated API server.

The emulator serves Kubernetes' own kinds and no CRDs, so it stands in for a cluster where
Karpenter is not installed: the apply is refused with a 404, as kube-apiserver refuses it,
and the request it got is the server-side apply the helm target sends.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from controller.adapters.kube import KubeClient, KubeConnection, KubeNotFoundError
from controller.adapters.provisioning import Applied, apply_node_pools
from tests.support.kubeapi import KubeApi

NODECLASS = {
    "apiVersion": "karpenter.azure.com/v1beta1",
    "kind": "AKSNodeClass",
    "metadata": {"name": "burst"},
    "spec": {},
}


@pytest.fixture
def client(kube_api: KubeApi) -> Iterator[KubeClient]:
    connection = KubeConnection(kube_api.kubeconfig_path, request_timeout=5.0)
    yield connection.client()
    connection.close()


def test_without_karpenter_the_apply_is_refused_as_not_found(
    kube_api: KubeApi, client: KubeClient
) -> None:
    with pytest.raises(KubeNotFoundError):
        apply_node_pools(client, "prod", [NODECLASS])
    [sent] = [r for r in kube_api.requests() if "karpenter" in r.path]
    assert (sent.method, sent.path) == (
        "PATCH",
        "/apis/karpenter.azure.com/v1beta1/aksnodeclasses/burst",
    )
    assert sent.content_type.startswith("application/apply-patch+yaml")
    assert parse_qs(sent.query) == {"fieldManager": ["modelsync"], "force": ["true"]}


def test_with_nothing_to_apply_a_cluster_without_karpenter_is_fine(client: KubeClient) -> None:
    assert apply_node_pools(client, "prod", []) == Applied(applied=(), orphaned=())
