"""charts/modelsync: the controller Deployment, its least-privilege RBAC, secrets and monitoring."""

from __future__ import annotations

import json
from typing import Any

import helm_python
import pytest
import yaml

from tests.charts.rendering import (
    Manifest,
    Rendered,
    chart,
    configmap_file,
    container,
    env_of,
    mounts_of,
    pod_spec,
    render,
    scenario,
    scenarios,
    volumes_of,
    with_values,
)

CHART = "modelsync"
RELEASE_NAMESPACE = "modelsync"
FULL_VERBS = ["get", "list", "watch", "create", "update", "patch", "delete"]

# The API resource behind each kind the workload charts render.
WORKLOAD_RESOURCES = {
    "ConfigMap": ("", "configmaps"),
    "Service": ("", "services"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "Deployment": ("apps", "deployments"),
    "Job": ("batch", "jobs"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "ServiceMonitor": ("monitoring.coreos.com", "servicemonitors"),
    "ScaledObject": ("keda.sh", "scaledobjects"),
    "LeaderWorkerSet": ("leaderworkerset.x-k8s.io", "leaderworkersets"),
}


def values(name: str = "default", **overrides: Any) -> dict[str, Any]:
    return with_values(scenario(CHART, name).values, **overrides)


def rendered(name: str = "default", **overrides: Any) -> Rendered:
    return render(
        CHART, values(name, **overrides), release="modelsync", namespace=RELEASE_NAMESPACE
    )


def controller(out: Rendered) -> dict[str, Any]:
    return container(pod_spec(out.one("Deployment")), "controller")


def verbs_for(role: Manifest, group: str, resource: str) -> set[str]:
    return {
        verb
        for rule in role["rules"]
        if group in rule["apiGroups"] and resource in rule["resources"]
        for verb in rule["verbs"]
    }


# --- RBAC -----------------------------------------------------------------------------


@pytest.mark.parametrize("item", scenarios(CHART), ids=lambda s: s.name)
def test_rbac_has_no_wildcards(item: Any) -> None:
    out = render(CHART, item.values, release="modelsync", namespace=RELEASE_NAMESPACE)
    for role in [*out.all("Role"), *out.all("ClusterRole")]:
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert "*" not in rule[field], (role["metadata"]["name"], rule)
            assert "resourceNames" not in rule or rule["resourceNames"]


def test_nothing_at_cluster_scope_unless_the_controller_applies_node_pools() -> None:
    assert not rendered().all("ClusterRole")
    out = rendered(rbac={"create": True, "manageNodePools": True})
    [cluster_role] = out.all("ClusterRole")
    assert cluster_role["rules"] == [
        {
            "apiGroups": ["karpenter.sh"],
            "resources": ["nodepools"],
            "verbs": ["list", "create", "patch"],
        },
        {
            "apiGroups": ["karpenter.azure.com"],
            "resources": ["aksnodeclasses"],
            "verbs": ["create", "patch"],
        },
        {
            "apiGroups": ["karpenter.k8s.aws"],
            "resources": ["ec2nodeclasses"],
            "verbs": ["create", "patch"],
        },
    ]
    [binding] = out.all("ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "modelsync", "namespace": RELEASE_NAMESPACE}
    ]


def test_release_namespace_role_covers_leader_election_and_events() -> None:
    roles = {r["metadata"]["name"]: r for r in rendered().all("Role")}
    election = roles["modelsync-leader-election"]
    assert election["metadata"]["namespace"] == RELEASE_NAMESPACE
    assert verbs_for(election, "coordination.k8s.io", "leases") == {"get", "create", "update"}
    assert verbs_for(election, "", "events") == {"create", "patch"}
    assert verbs_for(election, "events.k8s.io", "events") == {"create", "patch"}


def test_each_managed_namespace_gets_a_role_and_binding() -> None:
    out = rendered("ha")
    managed = values("ha")["managedNamespaces"]
    workload_roles = [r for r in out.all("Role") if r["metadata"]["name"] == "modelsync-workloads"]
    assert sorted(r["metadata"]["namespace"] for r in workload_roles) == sorted(managed)
    bindings = [b for b in out.all("RoleBinding") if b["metadata"]["name"] == "modelsync-workloads"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == sorted(managed)
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "modelsync-workloads",
        }
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "modelsync", "namespace": RELEASE_NAMESPACE}
        ]


def test_managed_namespace_role_covers_everything_the_workload_charts_render() -> None:
    kinds = {
        obj["kind"]
        for name in ("workspace-inference", "workspace-tuning", "workspace-rag")
        for item in scenarios(name)
        for obj in render(item.chart, item.values, release=item.release).objects
    }
    assert kinds <= set(WORKLOAD_RESOURCES), "a workload chart renders a kind RBAC does not know"
    role = next(r for r in rendered().all("Role") if r["metadata"]["name"] == "modelsync-workloads")
    for kind in kinds:
        group, resource = WORKLOAD_RESOURCES[kind]
        assert verbs_for(role, group, resource) == set(FULL_VERBS), kind
    # Helm's release storage and the Events; no pods: Helm never waits, and readiness is read
    # from the Deployments and Jobs (docs/helm-sdk-notes.md lists every call the target makes).
    assert verbs_for(role, "", "secrets") == {"get", "list", "create", "update", "patch", "delete"}
    assert verbs_for(role, "", "pods") == set()
    assert verbs_for(role, "events.k8s.io", "events") == {"create", "patch"}
    assert verbs_for(role, "", "events") == {"create", "patch"}
    # The Workspaces' ModelWorkspace objects: status by server-side apply, never a get or watch.
    objects = verbs_for(role, "modelsync.dev", "modelworkspaces")
    assert objects == {"list", "create", "patch", "delete"}
    assert verbs_for(role, "modelsync.dev", "modelworkspaces/status") == {"patch"}


def test_optional_crd_permissions_can_be_dropped() -> None:
    out = rendered(
        rbac={
            "manageServiceMonitors": False,
            "manageScaledObjects": False,
            "manageLeaderWorkerSets": False,
        }
    )
    role = next(r for r in out.all("Role") if r["metadata"]["name"] == "modelsync-workloads")
    groups = {group for rule in role["rules"] for group in rule["apiGroups"]}
    assert not groups & {"monitoring.coreos.com", "keda.sh", "leaderworkerset.x-k8s.io"}


def test_rbac_can_be_left_to_the_operator() -> None:
    out = rendered(rbac={"create": False})
    assert not out.kinds() & {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


# --- the Deployment -------------------------------------------------------------------


def test_controller_runs_the_contract_command_with_its_config() -> None:
    out = rendered()
    spec = pod_spec(out.one("Deployment"))
    main = controller(out)
    assert main["command"] == ["modelsync"]
    assert main["args"] == ["run", "--config", "/etc/modelsync/config.yaml"]
    mount = mounts_of(main)["/etc/modelsync/config.yaml"]
    assert (mount["name"], mount["subPath"]) == ("config", "config.yaml")
    assert volumes_of(spec)["config"]["configMap"] == {"name": "modelsync-config"}
    assert spec["serviceAccountName"] == "modelsync"
    assert out.one("Deployment")["spec"]["replicas"] == 1


def test_pod_identity_comes_from_the_downward_api() -> None:
    env = env_of(controller(rendered()))
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}


def test_probes_and_ports() -> None:
    out = rendered()
    main = controller(out)
    assert main["ports"] == [
        {"name": "http", "containerPort": 8080, "protocol": "TCP"},
        {"name": "webhook", "containerPort": 8081, "protocol": "TCP"},
    ]
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    [port] = out.one("Service")["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (8080, "http")


def config_of(out: Rendered) -> dict[str, Any]:
    [config] = [c for c in out.all("ConfigMap") if "config.yaml" in c.get("data", {})]
    loaded: dict[str, Any] = yaml.safe_load(config["data"]["config.yaml"])
    return loaded


def test_webhooks_have_their_own_port_and_service() -> None:
    # No webhook secret: no webhook Service, but the controller still keeps the ports apart.
    plain = rendered()
    assert (config_of(plain)["listen"], config_of(plain)["webhookListen"]) == (":8080", ":8081")
    assert [s["metadata"]["name"] for s in plain.all("Service")] == ["modelsync"]
    out = rendered("ha", webhook={"service": {"type": "LoadBalancer", "port": 443}})
    services = {s["metadata"]["name"]: s["spec"] for s in out.all("Service")}
    assert services["modelsync"]["type"] == "ClusterIP"  # status and metrics stay inside
    hook = services["modelsync-webhook"]
    assert hook["type"] == "LoadBalancer"
    assert hook["ports"] == [
        {"name": "webhook", "port": 443, "targetPort": "webhook", "protocol": "TCP"}
    ]
    assert hook["selector"] == services["modelsync"]["selector"]


def test_read_only_root_with_a_scratch_volume() -> None:
    out = rendered()
    spec = pod_spec(out.one("Deployment"))
    main = controller(out)
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert mounts_of(main)["/var/lib/modelsync"]["name"] == "scratch"
    assert volumes_of(spec)["scratch"]["emptyDir"] == {"sizeLimit": "5Gi"}
    assert env_of(main)["HOME"]["value"] == "/var/lib/modelsync"


def test_two_replicas_elect_a_leader_and_spread() -> None:
    out = rendered("ha")
    deployment = out.one("Deployment")
    assert deployment["spec"]["replicas"] == 2
    anti = pod_spec(deployment)["affinity"]["podAntiAffinity"]
    term = anti["preferredDuringSchedulingIgnoredDuringExecution"][0]["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert out.one("PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_two_replicas_without_leader_election_are_refused() -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"needs config\.leaderElection\.enabled"):
        rendered("ha", config={"leaderElection": {"enabled": False}})


def test_config_changes_roll_the_pods() -> None:
    def checksum(out: Rendered) -> str:
        return str(
            out.one("Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
        )

    assert checksum(rendered()) != checksum(rendered(config={"interval": "30s"}))


# --- secrets: references only ---------------------------------------------------------


def test_git_and_webhook_secrets_are_mounted_as_files() -> None:
    out = rendered("ha")
    spec = pod_spec(out.one("Deployment"))
    mounts = mounts_of(controller(out))
    assert mounts["/etc/modelsync/git"] == {
        "name": "git-credentials",
        "mountPath": "/etc/modelsync/git",
        "readOnly": True,
    }
    assert mounts["/etc/modelsync/webhook"]["readOnly"] is True
    volumes = volumes_of(spec)
    assert volumes["git-credentials"]["secret"] == {
        "secretName": "modelsync-git",
        "defaultMode": 0o440,
    }
    assert volumes["webhook-secret"]["secret"]["secretName"] == "modelsync-webhook"


def test_no_credentials_without_a_secret_reference() -> None:
    mounts = mounts_of(controller(rendered()))
    assert "/etc/modelsync/git" not in mounts
    assert "/etc/modelsync/webhook" not in mounts


@pytest.mark.parametrize("item", scenarios(CHART), ids=lambda s: s.name)
def test_secrets_are_never_rendered(item: Any) -> None:
    out = render(CHART, item.values, release="modelsync", namespace=RELEASE_NAMESPACE)
    assert "Secret" not in out.kinds()
    for env in env_of(controller(out)).values():
        assert "secretKeyRef" not in env.get("valueFrom", {})
    config = json.dumps(out.all("ConfigMap"))
    for word in ("token", "password", "privatekey", "ssh-private"):
        assert word not in config.lower()


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"git": {"token": "ghp_abc"}}, "at '/git': additional properties 'token' not allowed"),
        ({"git": {"password": "hunter2"}}, "at '/git': additional properties 'password'"),
        ({"webhook": {"secret": "s3cr3t"}}, "at '/webhook': additional properties 'secret'"),
        ({"config": {"repo": {"url": "https://x.test/r.git", "token": "t"}}}, "at '/config/repo'"),
    ],
)
def test_credentials_in_values_are_refused(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        chart(CHART).validate_schema(with_values(values(), **bad))
    assert message in str(refused.value)


# --- monitoring -----------------------------------------------------------------------


def test_prometheus_rule_has_the_three_alerts() -> None:
    rule = rendered("monitoring").one("PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [group] = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == {
        "ModelsyncSyncFailing",
        "ModelsyncStaleCommit",
        "ModelsyncWorkspaceNotReady",
    }
    assert 'modelsync_reconciles_total{result="error"}' in alerts["ModelsyncSyncFailing"]["expr"]
    stale = alerts["ModelsyncStaleCommit"]["expr"]
    assert "time() - max by (namespace) (modelsync_last_successful_sync_timestamp_seconds)" in stale
    assert stale.endswith("> 900")
    assert "modelsync_workspaces{" in alerts["ModelsyncWorkspaceNotReady"]["expr"]
    assert all(r["labels"]["severity"] == "critical" for r in group["rules"])
    # Prometheus templates survive Helm's own templating.
    assert "{{ $labels.namespace }}" in alerts["ModelsyncSyncFailing"]["annotations"]["description"]


def test_service_monitor_scrapes_metrics() -> None:
    out = rendered("monitoring")
    monitor = out.one("ServiceMonitor")
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "15s"}]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        out.one("Service")["metadata"]["labels"].items()
    )


def test_grafana_dashboard_is_a_labelled_config_map() -> None:
    out = rendered("monitoring")
    [dashboard] = [c for c in out.all("ConfigMap") if "modelsync.json" in c["data"]]
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "modelsync"}
    board = json.loads(dashboard["data"]["modelsync.json"])
    assert board["uid"] == "modelsync-overview"
    assert len(board["panels"]) >= 6
    assert {p["id"] for p in board["panels"]} == set(range(1, len(board["panels"]) + 1))


def test_monitoring_is_off_by_default() -> None:
    out = rendered()
    assert not out.kinds() & {"ServiceMonitor", "PrometheusRule", "NetworkPolicy"}
    assert all("modelsync.json" not in c["data"] for c in out.all("ConfigMap"))


def test_network_policy_allows_dns_and_the_api_server_when_egress_is_restricted() -> None:
    policy = rendered("ssh-git").one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert policy["ingress"] == []  # no peers listed: nobody but the node's probes
    dns, api_server, *listed = policy["egress"]
    assert {"port": 53, "protocol": "UDP"} in dns["ports"]
    # The API server answers on 443 through the kubernetes Service and on 6443 at the
    # endpoints a policy sees on most distributions: blocking 6443 stopped the controller.
    assert api_server == {
        "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]
    }
    assert [p["port"] for rule in listed for p in rule["ports"]] == [22, 443]
    ingress_only = rendered("ha").one("NetworkPolicy")["spec"]
    assert ingress_only["policyTypes"] == ["Ingress"]
    status, hooks = ingress_only["ingress"]
    # The monitoring namespace reaches status and metrics; the ingress controller reaches
    # only the webhook port.
    assert status["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert [p["namespaceSelector"]["matchLabels"] for p in status["from"]] == [
        {"kubernetes.io/metadata.name": "monitoring"}
    ]
    assert hooks["ports"] == [{"port": "webhook", "protocol": "TCP"}]
    assert [p["namespaceSelector"]["matchLabels"] for p in hooks["from"]] == [
        {"kubernetes.io/metadata.name": "ingress-nginx"}
    ]


def test_an_empty_peer_list_admits_nobody() -> None:
    """A NetworkPolicy ingress rule without `from` admits every pod of the cluster: with
    `ingressFrom: []` and `webhookFrom: []` no rule may lack its peers."""
    out = render(
        CHART,
        with_values(
            values(),
            webhook={"existingSecret": "hooks"},
            networkPolicy={"enabled": True, "ingressFrom": [], "webhookFrom": []},
        ),
    )
    policy = out.one("NetworkPolicy")["spec"]
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["ingress"] == []
    assert all(rule.get("from") for rule in policy["ingress"])


def test_an_api_server_endpoint_can_narrow_the_egress() -> None:
    block = [{"ipBlock": {"cidr": "10.0.0.1/32"}}]
    out = render(
        CHART,
        with_values(
            values(),
            networkPolicy={
                "enabled": True,
                "egress": [{"ports": [{"port": 22, "protocol": "TCP"}]}],
                "apiServer": {"ports": [6443], "to": block},
            },
        ),
    )
    _, api_server, _ = out.one("NetworkPolicy")["spec"]["egress"]
    assert api_server == {"ports": [{"port": 6443, "protocol": "TCP"}], "to": block}


# --- required values ------------------------------------------------------------------


def test_cluster_and_repository_are_required() -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        chart(CHART).validate_schema(None)
    assert "'/config/cluster'" in str(refused.value)
    assert "'/config/repo/url'" in str(refused.value)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"config": {"cluster": "Prod"}}, "at '/config/cluster'"),
        ({"config": {"repo": {"url": "github.com/acme/clusters"}}}, "at '/config/repo/url'"),
        (
            {"config": {"repo": {"url": "https://x.test/r.git", "commit": "abc"}}},
            "at '/config/repo/commit'",
        ),
        ({"config": {"drift": "fix"}}, "at '/config/drift'"),
        ({"config": {"interval": "1 minute"}}, "at '/config/interval'"),
        ({"managedNamespaces": ["ml", "ml"]}, "at '/managedNamespaces'"),
        ({"replicaCount": -1}, "at '/replicaCount'"),
        ({"rbac": {"wildcards": True}}, "at '/rbac': additional properties 'wildcards'"),
    ],
)
def test_bad_values_are_refused_naming_the_key(bad: dict[str, Any], message: str) -> None:
    merged = with_values(values(), **bad)
    if "config" in bad:
        merged["config"] = with_values(values()["config"], **bad["config"])
    with pytest.raises(helm_python.HelmValuesError) as refused:
        chart(CHART).validate_schema(merged)
    assert message in str(refused.value)


def test_tag_and_commit_together_are_refused() -> None:
    repo = {"url": "https://x.test/r.git", "tag": "v1", "commit": "a" * 40}
    with pytest.raises(helm_python.HelmRenderError, match="set tag or commit, not both"):
        rendered(config={"cluster": "dev", "repo": repo})


def test_concurrency_reaches_the_config_only_when_set() -> None:
    assert "concurrency" not in configmap_file(rendered(), "config.yaml")
    config = values()["config"] | {"concurrency": 4}
    assert configmap_file(rendered(config=config), "config.yaml")["concurrency"] == 4
