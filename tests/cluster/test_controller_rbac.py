"""The controller chart's RBAC under real authorization: the helm target, acting as the
ServiceAccount that charts/modelsync creates, installs, upgrades, corrects drift in and
uninstalls Workspace releases, writes their ModelWorkspace objects and applies prod's
Karpenter NodePools, and the API server's audit log shows every call it made allowed.
Nothing more: every grant the cycle did not use must be in NOT_EXERCISED with the reason
the chart keeps it, so a new grant fails here until someone says why it is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import helm_python as helm
import pytest
import yaml

from controller.adapters.bundled import load_bundle
from controller.adapters.kube import JSON, KubeClient, KubeConnection
from controller.adapters.provisioning import apply_node_pools
from controller.adapters.workspaceobjects import WorkspaceObjects
from controller.core.nodepools import node_pool_manifests
from controller.core.planning import DriftPolicy, Plan, PlanPolicy
from controller.core.ports import TargetError
from controller.core.status import WorkspaceStatus
from controller.core.statusobjects import sources
from controller.engine.publishing import Publisher
from tests.cluster.lab import install_crd, lab_pass, pods, ready, settled
from tests.controlplane.cluster import ControlPlane
from tests.controlplane.nodes import load_cluster
from tests.karpenter.fetch_crds import fetch_all
from tests.support.helmpass import Pass, inference, outcome, tuning

pytestmark = pytest.mark.cluster

Grant = tuple[str, str, str]  # apiGroup, resource, verb

_SSA_CREATE = (
    "server-side apply that creates an object is authorized as create too (the audit log "
    "records a patch)"
)
_OPTIONAL = "rendered only with chart values this cycle does not set"
_HELM = "Helm's other actions (rollback, wait, replace on conflict) and the model cache"
#: Granted, not used by this cycle, and why the chart keeps them: (group, resource) -> reason,
#: for the verbs listed.
NOT_EXERCISED: dict[tuple[str, str], tuple[frozenset[str], str]] = {
    ("", "configmaps"): (frozenset({"create", "list", "update", "watch"}), _HELM),
    ("", "services"): (frozenset({"create", "list", "update", "watch"}), _HELM),
    ("", "persistentvolumeclaims"): (
        frozenset({"get", "list", "watch", "create", "update", "patch", "delete"}),
        _OPTIONAL + " (modelCache.persistentVolumeClaim)",
    ),
    ("", "secrets"): (frozenset({"patch"}), "Helm's release storage updates a record in place"),
    ("apps", "deployments"): (frozenset({"create", "update", "watch"}), _SSA_CREATE),
    ("batch", "jobs"): (frozenset({"create", "update", "watch"}), _SSA_CREATE),
    ("networking.k8s.io", "networkpolicies"): (
        frozenset({"create", "list", "update", "watch"}),
        _SSA_CREATE,
    ),
    ("modelsync.dev", "modelworkspaces"): (frozenset({"create"}), _SSA_CREATE),
    ("karpenter.sh", "nodepools"): (frozenset({"create"}), _SSA_CREATE),
    ("karpenter.azure.com", "aksnodeclasses"): (frozenset({"create"}), _SSA_CREATE),
    ("karpenter.k8s.aws", "ec2nodeclasses"): (
        frozenset({"create", "patch"}),
        "the NodeClass of AWS instance types; prod's autoProvision pool is on Azure",
    ),
    ("policy", "poddisruptionbudgets"): (
        frozenset({"get", "list", "watch", "create", "update", "patch", "delete"}),
        _OPTIONAL + " (podDisruptionBudget)",
    ),
    ("autoscaling", "horizontalpodautoscalers"): (
        frozenset({"get", "list", "watch", "create", "update", "patch", "delete"}),
        _OPTIONAL + " (autoscaling)",
    ),
    ("monitoring.coreos.com", "servicemonitors"): (
        frozenset({"get", "list", "watch", "create", "update", "patch", "delete"}),
        _OPTIONAL + " (serviceMonitor; rbac.manageServiceMonitors)",
    ),
    ("keda.sh", "scaledobjects"): (
        frozenset({"get", "list", "watch", "create", "update", "patch", "delete"}),
        _OPTIONAL + " (autoscaling.kind keda; rbac.manageScaledObjects)",
    ),
    ("leaderworkerset.x-k8s.io", "leaderworkersets"): (
        frozenset({"get", "list", "watch", "create", "update", "patch", "delete"}),
        _OPTIONAL + " (multiNode.nodes > 1, a model larger than one node; "
        "rbac.manageLeaderWorkerSets; tests/cluster/test_multinode_release.py installs one as "
        "the administrator)",
    ),
    ("coordination.k8s.io", "leases"): (
        frozenset({"get", "create", "update"}),
        "leader election, in the release namespace (tests/cluster/test_controller_run.py)",
    ),
    ("", "events"): (frozenset({"create", "patch"}), "the controller's own Events (fallback)"),
    ("events.k8s.io", "events"): (frozenset({"create", "patch"}), "the controller's own Events"),
}


def unexplained(unused: set[Grant]) -> list[Grant]:
    """The unused grants NOT_EXERCISED gives no reason for."""
    return sorted(
        g for g in unused if g[2] not in NOT_EXERCISED.get((g[0], g[1]), (frozenset(), ""))[0]
    )


def token_kubeconfig(plane: ControlPlane, kube: KubeClient, namespace: str, path: Path) -> Path:
    """A kubeconfig that authenticates as the chart's ServiceAccount (a bound token)."""
    answer = kube.create(
        f"/api/v1/namespaces/{namespace}/serviceaccounts/modelsync/token",
        {"spec": {"expirationSeconds": 3600}},
    )
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": plane.server,
                    "certificate-authority": str(plane.dir / "pki" / "ca.crt"),
                },
            }
        ],
        "users": [{"name": "modelsync", "user": {"token": answer["status"]["token"]}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "modelsync"}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def audited(plane: ControlPlane, user: str) -> list[JSON]:
    """The audit log's events of ``user``'s requests (one JSON object a line)."""
    lines = (plane.logs / "audit.log").read_text().splitlines()
    events: list[JSON] = [json.loads(line) for line in lines]
    return [e for e in events if e["user"]["username"] == user]


def resource_of(ref: JSON) -> str:
    """The resource an audit event names, with its subresource (``modelworkspaces/status``)."""
    sub = ref.get("subresource")
    return f"{ref['resource']}/{sub}" if sub else str(ref["resource"])


def granted(client: KubeClient, namespace: str) -> set[Grant]:
    """Every (group, resource, verb) the client's identity may use in ``namespace``."""
    review = client.create(
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        {"spec": {"namespace": namespace}},
    )
    return {
        (group, resource, verb)
        for rule in review["status"]["resourceRules"]
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
        # Every authenticated user may review its own access and identity (system:basic-user);
        # not the chart's grant.
        if group not in ("authorization.k8s.io", "authentication.k8s.io")
    }


def served(connection: KubeConnection, namespace: str) -> bool:
    try:
        WorkspaceObjects(connection.client(), "lab").read([namespace])
    except TargetError:
        return False
    finally:
        connection.close()
    return True


def publish_objects(world: Pass, kubeconfig: Path, namespace: str) -> None:
    """What the controller does with the Workspaces' ModelWorkspace objects, as the chart's
    ServiceAccount: read the requests, apply spec and status, delete one that left Git."""
    # Right after Helm created the CRD the API server may still answer 429 "storage is
    # (re)initializing"; the controller's next pass would try again.
    settled(lambda: served(KubeConnection(kubeconfig), namespace))
    connection = KubeConnection(kubeconfig)
    publisher = Publisher(WorkspaceObjects(connection.client(), "lab"), "lab")
    assert publisher.read_controls([namespace]) == {}
    publisher.remember(sources(world.validated(), world.desired()), {}, [namespace])
    ready = WorkspaceStatus("lab", namespace, "alpha", "alpha", "alpha.yaml", "True", "InSync", "")
    assert publisher.publish([ready], now="2026-12-01T00:00:00Z") == 2  # spec, then status
    assert not publisher.failed
    world.remove("alpha")
    gone = world.run()
    assert outcome(gone) == {"alpha": "uninstall:ok"}
    publisher.remember(sources(world.validated(), world.desired()), {}, [namespace])
    plan = Plan(tuple(r.step for r in gone.values()))
    results = [*gone.values()]
    assert publisher.publish([], now="2026-12-01T00:00:01Z", plan=plan, results=results) == 1
    assert not publisher.failed
    connection.close()


def test_the_helm_target_needs_nothing_the_controller_chart_does_not_grant(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, tmp_path: Path
) -> None:
    chart = load_bundle().charts_dir / "modelsync"
    with helm.Config(kubeconfig_path=control_plane.kubeconfig, namespace=namespace) as admin:
        values = {
            "managedNamespaces": [namespace],
            "config": {"cluster": "lab", "repo": {"url": "https://git.example.com/clusters.git"}},
            "rbac": {"manageNodePools": True},
        }
        admin.install(chart, "modelsync", values)
    install_karpenter_crds(kube)
    as_controller = token_kubeconfig(control_plane, kube, namespace, tmp_path / "sa.kubeconfig")
    world = lab_pass(control_plane, namespace, kubeconfig=as_controller)
    world.put("alpha", inference("alpha", namespace=namespace))
    world.put("tune", tuning(namespace=namespace))

    assert outcome(world.run()) == {"alpha": "install:ok", "tune": "install:ok"}
    states = world.target.workloads
    settled(lambda: states()[(namespace, "alpha")].ready and states()[(namespace, "tune")].ready)
    world.put("alpha", inference("alpha", namespace=namespace, context=4096))
    assert outcome(world.run()) == {"alpha": "upgrade:ok"}
    kube.patch(f"/apis/apps/v1/namespaces/{namespace}/deployments/alpha", {"spec": {"replicas": 2}})
    settled(lambda: len([p for p in pods(kube, namespace, "alpha") if ready(p)]) == 2)
    assert outcome(world.run(PlanPolicy(drift=DriftPolicy.CORRECT))) == {"alpha": "upgrade:ok"}
    world.remove("tune")
    assert outcome(world.run()) == {"tune": "uninstall:ok"}
    publish_objects(world, as_controller, namespace)
    world.target.close()
    apply_prods_node_pools(as_controller)

    user = f"system:serviceaccount:{namespace}:modelsync"
    calls = audited(control_plane, user)
    denied = [e for e in calls if e.get("responseStatus", {}).get("code") == 403]
    assert calls
    assert denied == []
    used = {
        (e["objectRef"].get("apiGroup", ""), resource_of(e["objectRef"]), e["verb"])
        for e in calls
        if e.get("objectRef", {}).get("namespace") == namespace
    }
    # Server-side apply is a patch, also where it creates the object.
    assert {g for g in used if g[0] == "modelsync.dev"} == {
        ("modelsync.dev", "modelworkspaces", "list"),
        ("modelsync.dev", "modelworkspaces", "patch"),
        ("modelsync.dev", "modelworkspaces", "delete"),
        ("modelsync.dev", "modelworkspaces/status", "patch"),
    }
    cluster_scoped = {
        (e["objectRef"].get("apiGroup", ""), resource_of(e["objectRef"]), e["verb"])
        for e in calls
        if "objectRef" in e and not e["objectRef"].get("namespace")
    }
    # Only Karpenter's objects at cluster scope; no Node is ever read (sizing reads cluster.yaml).
    assert cluster_scoped == {
        ("karpenter.sh", "nodepools", "patch"),
        ("karpenter.sh", "nodepools", "list"),
        ("karpenter.azure.com", "aksnodeclasses", "patch"),
    }
    connection = KubeConnection(as_controller)
    unused = granted(connection.client(), namespace) - used - cluster_scoped
    connection.close()
    assert unexplained(unused) == [], unexplained(unused)


def install_karpenter_crds(kube: KubeClient) -> None:
    """Karpenter's NodePool and Azure's AKSNodeClass CRDs, as a cluster with Karpenter has."""
    crds = fetch_all()
    for path in (
        crds / "sigs.k8s.io_karpenter@v1.15.0/pkg/apis/crds/karpenter.sh_nodepools.yaml",
        crds
        / "github.com_Azure_karpenter-provider-azure@v1.14.2/pkg/apis/crds"
        / "karpenter.azure.com_aksnodeclasses.yaml",
    ):
        install_crd(kube, path)


def apply_prods_node_pools(kubeconfig: Path) -> None:
    """clusters/prod's autoProvision pool as the helm target applies it, as the ServiceAccount."""
    cluster = load_cluster(Path(__file__).resolve().parents[2] / "clusters/prod/cluster.yaml")
    manifests = node_pool_manifests(cluster, load_bundle().catalog)
    assert {m["kind"] for m in manifests} == {"NodePool", "AKSNodeClass"}
    connection = KubeConnection(kubeconfig)
    try:
        applied = apply_node_pools(connection.client(), "prod", manifests)
    finally:
        connection.close()
    assert sorted(applied.applied) == ["AKSNodeClass/h100-nvl", "NodePool/h100-nvl"]
