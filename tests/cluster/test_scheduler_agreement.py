"""The scheduler agrees with ``validate``: on the dev and prod clusters' own node pools,
every generated Workspace that ``validate`` places runs on the pool it named, and every one
it refuses for capacity finds no node.

Each cluster gets its own control plane (its nodes are those of clusters/<name>). The
accepted Workspaces are reconciled first, as the controller would; then the refused ones are
installed anyway (bypassing validation, as a person with helm could) to see whether the real
scheduler finds room for them. The agreement figure is printed (``pytest -s``) and must be 1.
Workspaces that become multi-node groups are left out: no LWS controller creates their pods.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.adapters.kube import JSON, KubeClient, KubeConnection
from controller.core.planning import Action, ReleaseState, Step
from controller.core.releases import desired_release
from controller.core.workspacefile import WorkspaceResult
from tests.cluster.generated import REPO, cluster_file, workspaces
from tests.cluster.lab import pods, ready, settled, unschedulable
from tests.controlplane.fixtures import running_control_plane
from tests.controlplane.nodes import POOL_LABEL, load_cluster
from tests.support.helmpass import CHARTS, COMMIT, Pass

pytestmark = pytest.mark.cluster

NAMESPACE = "agreement"
SEED = 10


def verdicts(kube: KubeClient, release: str, replicas: int) -> list[tuple[str, str]] | None:
    """(pool, "") of each Ready pod and ("", message) of each the scheduler refused; None
    while a pod is missing or has no verdict yet."""
    found = pods(kube, NAMESPACE, release)
    if len(found) != replicas:
        return None
    out = []
    for pod in found:
        if ready(pod):
            out.append((pool_of(kube, pod), ""))
        elif unschedulable(pod):
            out.append(("", unschedulable(pod)))
        else:
            return None
    return out


def pool_of(kube: KubeClient, pod: JSON) -> str:
    node = kube.get(f"/api/v1/nodes/{pod['spec']['nodeName']}")
    return str(node["metadata"]["labels"][POOL_LABEL])


def refused_for_capacity(result: WorkspaceResult) -> bool:
    codes = {f.code for f in result.findings if f.is_error}
    return result.placement is not None and codes == {"capacity"}


# About one Workspace per GPU of the cluster: dev has 2 A10s, prod 4 A100s, 16 H100s, 4 L4s.
@pytest.mark.parametrize(("name", "count"), [("dev", 6), ("prod", 24)])
def test_the_scheduler_agrees_with_validate(name: str, count: int, tmp_path: Path) -> None:
    cluster_yaml = REPO / "clusters" / name / "cluster.yaml"
    with running_control_plane(cluster_yaml, tmp_path / "controlplane") as plane:
        connection = KubeConnection(plane.kubeconfig)
        kube = connection.client()
        kube.create("/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        world = Pass(
            plane.kubeconfig,
            cluster=name,
            cluster_yaml=cluster_file(name, NAMESPACE),
            namespaces=[NAMESPACE],
        )
        generated = workspaces(load_cluster(cluster_yaml), NAMESPACE, count=count, seed=SEED)
        for file, text in generated.items():
            world.put(file, text)
        # A model larger than a node becomes a multi-node group (a LeaderWorkerSet); no LWS
        # controller runs on this control plane, so it would have no pods for the scheduler
        # to judge: those are left out (tests/cluster/test_multinode_release.py installs one).
        for w in world.validated().workspaces:
            if w.placement is not None and w.placement.nodes > 1 and w.workspace is not None:
                world.remove(w.workspace.name)
        validated = world.validated()
        assert validated.cluster is not None
        accepted = [w for w in validated.workspaces if w.valid and w.placement is not None]
        refused = [w for w in validated.workspaces if refused_for_capacity(w)]
        assert accepted
        assert refused

        results = world.run()
        assert {r.ok for r in results.values()} == {True}, results
        seen: dict[str, list[tuple[str, str]]] = {}

        def settle(batch: list[WorkspaceResult]) -> bool:
            for w in batch:
                assert w.workspace is not None
                assert w.placement is not None
                found = verdicts(kube, w.workspace.name, w.placement.replicas)
                if found is None:
                    return False
                seen[w.workspace.name] = found
            return True

        settled(lambda: settle(accepted))
        for w in refused:
            desired = desired_release(w, validated.cluster, CHARTS.versions())
            step = Step(
                Action.INSTALL, ReleaseState.ABSENT, NAMESPACE, desired.name,
                "refused for capacity; installed to ask the scheduler", desired=desired,
            )  # fmt: skip
            assert world.target.apply(step, COMMIT).ok
        settled(lambda: settle(refused))

        disagreements = []
        for w in accepted:
            assert w.workspace is not None
            assert w.placement is not None
            where = {pool for pool, _ in seen[w.workspace.name]}
            if where != {w.placement.pool.name}:
                disagreements.append(
                    f"{w.workspace.name}: validate placed it on "
                    f"{w.placement.pool.name}; pods got {seen[w.workspace.name]}"
                )
        for w in refused:
            assert w.workspace is not None
            if all(pool for pool, _ in seen[w.workspace.name]):
                disagreements.append(
                    f"{w.workspace.name}: refused for capacity, but all its "
                    f"pods run: {seen[w.workspace.name]}"
                )
        total = len(accepted) + len(refused)
        agreement = (total - len(disagreements)) / total
        print(
            f"\nscheduler agreement on {name}: {total - len(disagreements)}/{total} = "
            f"{agreement:.2f} ({len(accepted)} placed by validate, {len(refused)} refused for "
            f"capacity, {len(validated.workspaces) - total} refused for other reasons)"
        )
        world.target.close()
        connection.close()
        assert disagreements == []
