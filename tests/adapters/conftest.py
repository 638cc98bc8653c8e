"""The helm target's test world: Workspaces in memory, the real Helm SDK on the emulator.

Shared by ``test_helmtarget.py`` and ``test_helmtarget_recovery.py``. The passes themselves
are ``tests/support/helmpass.py``'s, which the tests against the local control plane use
too; this adds the emulator's side: its fixture, and reading or forging Helm's release
records in it.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
from collections.abc import Iterator

import helm_python as helm
import pytest

from tests.support import helmpass
from tests.support.helmpass import CHARTS, COMMIT, DEFAULT, inference, outcome, tuning
from tests.support.kubeapi import KubeApi

__all__ = [
    "CHARTS",
    "COMMIT",
    "DEFAULT",
    "TUNING",
    "Pass",
    "helm_config",
    "inference",
    "outcome",
    "records",
    "stick",
]

TUNING = tuning()


class Pass(helmpass.Pass):
    """A pass over the edge cluster's Workspaces, with the emulator it runs against."""

    def __init__(self, kube_api: KubeApi, *, timeout: float = 30.0) -> None:
        super().__init__(kube_api.kubeconfig_path, timeout=timeout)
        self.api = kube_api


@pytest.fixture
def world(kube_api: KubeApi) -> Iterator[Pass]:
    world = Pass(kube_api)
    world.put("alpha", inference("alpha"))
    world.put("beta", inference("beta"))
    yield world
    world.target.close()


def helm_config(kube_api: KubeApi, namespace: str = "default") -> helm.Config:
    return helm.Config(kubeconfig_path=kube_api.kubeconfig_path, namespace=namespace)


def records(kube_api: KubeApi, release: str, namespace: str = "default") -> list[tuple[str, str]]:
    """(revision, status) of each stored release record, oldest first."""
    labels = [
        s["metadata"]["labels"]
        for s in kube_api.objects("v1/secrets", namespace)
        if s.get("type") == "helm.sh/release.v1" and s["metadata"]["labels"]["name"] == release
    ]
    return sorted(((x["version"], x["status"]) for x in labels), key=lambda r: int(r[0]))


def stick(
    kube_api: KubeApi, release: str, status: str = "pending-upgrade", *, new_revision: bool = True
) -> None:
    """Leave a new revision in `status`, as an upgrade killed halfway would; without
    ``new_revision``, set the latest revision's status, as a killed install would."""
    latest = max(
        (
            s
            for s in kube_api.objects("v1/secrets", "default")
            if s.get("type") == "helm.sh/release.v1" and s["metadata"]["labels"]["name"] == release
        ),
        key=lambda s: int(s["metadata"]["labels"]["version"]),
    )
    body = json.loads(
        gzip.decompress(base64.b64decode(base64.b64decode(latest["data"]["release"])))
    )
    revision = body["version"] + (1 if new_revision else 0)
    body["version"] = revision
    body["info"]["status"] = status
    stuck = copy.deepcopy(latest)
    stuck["metadata"] = {
        "name": f"sh.helm.release.v1.{release}.v{revision}",
        "namespace": "default",
        "labels": latest["metadata"]["labels"] | {"status": status, "version": str(revision)},
    }
    encoded = base64.b64encode(gzip.compress(json.dumps(body).encode()))
    stuck["data"] = {"release": base64.b64encode(encoded).decode()}
    kube_api.put(stuck)
