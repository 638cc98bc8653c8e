"""A failed upgrade and its rollback against the local control plane. The failure is the API
server's own: a ValidatingAdmissionPolicy (CEL, evaluated in kube-apiserver) that refuses
any change to the data of the namespace's ConfigMaps, as a platform team's policy might."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator

import pytest

from controller.adapters.kube import KubeClient, KubeError, KubeNotFoundError
from controller.core.planning import FailurePolicy, PlanPolicy
from tests.cluster.lab import lab_pass, settled
from tests.controlplane.cluster import ControlPlane
from tests.support.helmpass import inference, outcome

pytestmark = pytest.mark.cluster

POLICIES = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies"
BINDINGS = "/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings"


@pytest.fixture
def frozen_config(kube: KubeClient, namespace: str) -> Iterator[str]:
    """ConfigMap data in ``namespace`` cannot change while this lasts (cluster-scoped
    objects: removed afterwards, they outlive the namespace)."""
    name = f"freeze-{secrets.token_hex(3)}"  # short: error messages are cut at 200 chars
    kube.create(
        POLICIES,
        {
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["UPDATE"],
                            "resources": ["configmaps"],
                        }
                    ]
                },
                "validations": [
                    {"expression": "object.data == oldObject.data", "message": "frozen"}
                ],
            },
        },
    )
    kube.create(
        BINDINGS,
        {
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                },
            },
        },
    )
    yield name
    for path in (f"{BINDINGS}/{name}", f"{POLICIES}/{name}"):
        with contextlib.suppress(KubeNotFoundError):  # the test removed it already
            kube.request("DELETE", path)


def refused(kube: KubeClient, path: str) -> bool:
    """A dry-run change of the ConfigMap's data is denied (the policy is in force)."""
    try:
        kube.request(
            "PATCH",
            path,
            query={"dryRun": "All"},
            body={"data": {"probe": "x"}},
            content_type="application/merge-patch+json",
        )
    except KubeError as e:
        return e.status == 422 and "denied request" in str(e)
    return False


def test_an_upgrade_the_api_server_refuses_fails_and_is_rolled_back(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, request: pytest.FixtureRequest
) -> None:
    world = lab_pass(control_plane, namespace)
    world.put("alpha", inference("alpha", namespace=namespace))
    assert outcome(world.run()) == {"alpha": "install:ok"}
    config = f"/api/v1/namespaces/{namespace}/configmaps/alpha-config"
    before = kube.get(config)["data"]
    policy = request.getfixturevalue("frozen_config")
    settled(lambda: refused(kube, config))
    world.put("alpha", inference("alpha", namespace=namespace, context=4096))

    failed = world.run()["alpha"]

    assert not failed.ok
    assert "denied request" in failed.message, failed.message
    observed = world.observe()["alpha"]
    assert (observed.status, observed.revision, observed.previous_deployed) == ("failed", 2, 1)
    rollback = PlanPolicy(on_failure=FailurePolicy.ROLLBACK)
    assert outcome(world.run(rollback)) == {"alpha": "rollback:ok"}
    restored = world.observe()["alpha"]
    assert (restored.status, restored.revision) == ("deployed", 3)
    assert kube.get(config)["data"] == before
    # Once the policy is gone, Git's change goes through on the next pass.
    for path in (f"{BINDINGS}/{policy}", f"{POLICIES}/{policy}"):
        kube.request("DELETE", path)
    settled(lambda: not refused(kube, config))
    assert outcome(world.run()) == {"alpha": "upgrade:ok"}
    assert "4096" in kube.get(config)["data"]["inference.yaml"]
    world.target.close()
