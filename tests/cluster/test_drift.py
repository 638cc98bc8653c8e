"""Drift against the local control plane: live edits made by another field manager, as a
person with kubectl makes them, seen by ``drifted()`` and undone by correct mode."""

from __future__ import annotations

import pytest

from controller.adapters.kube import KubeClient
from controller.core.planning import Action, DriftPolicy, PlanPolicy, ReleaseState
from tests.cluster.lab import lab_pass, pods, ready, settled
from tests.controlplane.cluster import ControlPlane
from tests.support.helmpass import inference, outcome

pytestmark = pytest.mark.cluster


def test_a_scaled_deployment_is_drift_and_correct_mode_scales_it_back(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    world = lab_pass(control_plane, namespace)
    world.put("alpha", inference("alpha", namespace=namespace))
    world.run()
    settled(lambda: world.target.workloads()[(namespace, "alpha")].ready)
    assert world.target.drifted(list(world.observe().values())) == set()
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/alpha"
    # `kubectl scale`: another field manager takes spec.replicas over.
    kube.request(
        "PATCH",
        path,
        query={"fieldManager": "kubectl"},
        body={"spec": {"replicas": 2}},
        content_type="application/merge-patch+json",
    )
    settled(lambda: len([p for p in pods(kube, namespace, "alpha") if ready(p)]) == 2)

    assert world.target.drifted(list(world.observe().values())) == {(namespace, "alpha")}
    steps = {s.name: s for s in world.plan(PlanPolicy(drift=DriftPolicy.WARN))}
    assert (steps["alpha"].state, steps["alpha"].action) == (ReleaseState.DRIFTED, Action.NONE)

    results = world.run(PlanPolicy(drift=DriftPolicy.CORRECT))

    assert outcome(results) == {"alpha": "upgrade:ok"}, results["alpha"].message
    assert kube.get(path)["spec"]["replicas"] == 1
    settled(lambda: len(pods(kube, namespace, "alpha")) == 1)
    assert world.target.drifted(list(world.observe().values())) == set()
    world.target.close()
