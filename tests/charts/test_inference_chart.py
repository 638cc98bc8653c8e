"""charts/workspace-inference: what the values become in the rendered vLLM server."""

from __future__ import annotations

import math
from typing import Any

import helm_python
import pytest

from tests.charts.rendering import (
    LINT_KUBE_VERSION,
    Rendered,
    assert_locked_down,
    chart,
    chart_dir,
    configmap_file,
    container,
    env_of,
    mounts_of,
    pod_spec,
    render,
    scenario,
    volumes_of,
    with_values,
)

CHART = "workspace-inference"
GIB = 1024**3


def values(name: str = "default", **overrides: Any) -> dict[str, Any]:
    return with_values(scenario(CHART, name).values, **overrides)


def rendered(name: str = "default", **overrides: Any) -> Rendered:
    v = values(name, **overrides)
    return render(CHART, v, release=v["workspace"]["name"])


def vllm_pod(out: Rendered) -> dict[str, Any]:
    return pod_spec(out.one("Deployment"))


# --- GPUs and parallelism -------------------------------------------------------------


@pytest.mark.parametrize(("name", "gpus"), [("default", 1), ("tensor-parallel", 4)])
def test_gpus_are_requested_and_limited_equally(name: str, gpus: int) -> None:
    resources = container(vllm_pod(rendered(name)), "vllm")["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == gpus
    assert resources["limits"]["nvidia.com/gpu"] == gpus


def test_zero_gpus_runs_without_gpu_resources_or_gpu_toleration() -> None:
    spec = vllm_pod(rendered(resources={"gpus": 0}))
    resources = container(spec, "vllm")["resources"]
    assert "nvidia.com/gpu" not in resources.get("requests", {})
    assert "nvidia.com/gpu" not in resources.get("limits", {})
    assert all(t.get("key") != "nvidia.com/gpu" for t in spec.get("tolerations", []))


def test_tensor_parallelism_beyond_the_gpus_is_refused() -> None:
    with pytest.raises(helm_python.HelmRenderError, match=r"vllm\.tensorParallelSize \(4\)"):
        rendered(vllm={"tensorParallelSize": 4}, resources={"gpus": 2})


# --- probes ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("weight_bytes", "threshold"),
    [
        (0, 60),  # unknown size: the 10-minute base only
        (1, 63),  # any weights count as at least one GiB
        (7_642_159_104, 84),  # phi-3.5-mini, 7.1 GiB: 600 + 30 x 8 s
        (141_107_412_992, 456),  # a 70B model, 131.4 GiB: 600 + 30 x 132 s
    ],
)
def test_startup_probe_allows_ten_minutes_plus_a_minute_per_two_gib(
    weight_bytes: int, threshold: int
) -> None:
    out = rendered(model={"weightBytes": weight_bytes})
    startup = container(vllm_pod(out), "vllm")["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": "http"}
    assert startup["periodSeconds"] == 10
    assert startup["failureThreshold"] == threshold
    assert threshold == math.ceil((600 + 30 * math.ceil(weight_bytes / GIB)) / 10)
    # The Deployment does not call a slow first start a failed rollout.
    assert out.one("Deployment")["spec"]["progressDeadlineSeconds"] == threshold * 10 + 900


def test_startup_allowance_is_tunable() -> None:
    probes = {"startup": {"baseSeconds": 300, "secondsPerGiB": 60, "periodSeconds": 20}}
    startup = container(vllm_pod(rendered(probes=probes)), "vllm")["startupProbe"]
    assert (startup["periodSeconds"], startup["failureThreshold"]) == (20, 39)  # (300+60*8)/20


def test_readiness_waits_for_the_model_and_liveness_checks_health() -> None:
    vllm = container(vllm_pod(rendered()), "vllm")
    assert vllm["readinessProbe"]["httpGet"] == {"path": "/v1/models", "port": "http"}
    assert vllm["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert vllm["livenessProbe"]["timeoutSeconds"] >= 10


# --- shared memory, caches, secrets ---------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "size"),
    [
        ({}, "1Gi"),
        ({"vllm": {"tensorParallelSize": 2}, "resources": {"gpus": 2}}, "16Gi"),
        ({"vllm": {"tensorParallelSize": 4}, "resources": {"gpus": 4}}, "32Gi"),
        ({"shm": {"sizeLimit": "12Gi"}}, "12Gi"),
    ],
)
def test_shm_is_memory_sized_for_tensor_parallelism(overrides: dict[str, Any], size: str) -> None:
    spec = vllm_pod(rendered(**overrides))
    assert volumes_of(spec)["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": size}
    assert mounts_of(container(spec, "vllm"))["/dev/shm"]["name"] == "dshm"


def test_model_cache_is_an_empty_dir_sized_from_the_weights() -> None:
    spec = vllm_pod(rendered())
    # 7642159104 x 1.2 = 8.54 GiB
    assert volumes_of(spec)["model-cache"]["emptyDir"] == {"sizeLimit": "9Gi"}
    vllm = container(spec, "vllm")
    assert env_of(vllm)["HF_HOME"]["value"] == "/mnt/models"
    assert mounts_of(vllm)["/mnt/models"]["name"] == "model-cache"


def test_pvc_cache_gets_a_claim_of_its_own() -> None:
    out = rendered("pvc-cache")
    claim = out.one("PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "workspace-phi-4-model-cache"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["storageClassName"] == "azurefile-csi-premium"
    assert claim["spec"]["resources"]["requests"]["storage"] == "33Gi"  # 27.3 GiB x 1.2
    volume = volumes_of(vllm_pod(out))["model-cache"]
    assert volume == {
        "name": "model-cache",
        "persistentVolumeClaim": {"claimName": "workspace-phi-4-model-cache"},
    }


def test_existing_claim_is_used_without_creating_one() -> None:
    out = rendered("pvc-cache", modelCache={"existingClaim": "shared-hf-cache"})
    assert out.all("PersistentVolumeClaim") == []
    claim = volumes_of(vllm_pod(out))["model-cache"]["persistentVolumeClaim"]
    assert claim == {"claimName": "shared-hf-cache"}


def test_gated_model_token_comes_from_the_secret_by_reference() -> None:
    out = rendered("gated-model")
    token = env_of(container(vllm_pod(out), "vllm"))["HF_TOKEN"]
    assert token == {
        "name": "HF_TOKEN",
        "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "HF_TOKEN"}},
    }
    assert out.all("Secret") == []


def test_no_token_without_an_access_secret() -> None:
    assert "HF_TOKEN" not in env_of(container(vllm_pod(rendered()), "vllm"))


def test_kaito_inference_config_map_is_mounted_as_the_override() -> None:
    out = rendered("pvc-cache")
    spec = vllm_pod(out)
    assert volumes_of(spec)["override-config"]["configMap"] == {"name": "phi-4-inference-config"}
    assert mounts_of(container(spec, "vllm"))["/etc/modelsync/override"]["readOnly"] is True
    config = configmap_file(out, "inference.yaml")
    assert config["overrideConfig"] == "/etc/modelsync/override/inference_config.yaml"


# --- adapters -------------------------------------------------------------------------


def test_image_adapters_are_copied_by_init_containers() -> None:
    spec = vllm_pod(rendered("adapters"))
    names = [c["name"] for c in spec["initContainers"]]
    assert names == ["adapter-tools", "adapter-0-falcon-7b-adapter"]
    tools = container(spec, "adapter-tools")
    assert tools["command"] == ["/bin/busybox", "cp", "/bin/busybox", "/modelsync-tools/busybox"]
    copy = container(spec, "adapter-0-falcon-7b-adapter")
    assert copy["image"] == "myregistry.azurecr.io/adapters/falcon-7b-adapter:0.0.1"
    assert copy["command"] == [
        "/modelsync-tools/busybox",
        "cp",
        "-R",
        "/data/.",
        "/mnt/adapters/falcon-7b-adapter/",
    ]
    target = mounts_of(copy)["/mnt/adapters/falcon-7b-adapter"]
    assert (target["name"], target["subPath"]) == ("adapters", "falcon-7b-adapter")
    assert volumes_of(spec)["adapters"] == {"name": "adapters", "emptyDir": {}}


def test_volume_adapters_are_mounted_under_their_name() -> None:
    spec = vllm_pod(rendered("adapters"))
    assert volumes_of(spec)["adapter-1"]["persistentVolumeClaim"] == {
        "claimName": "adapters-support-tickets",
        "readOnly": True,
    }
    mounts = mounts_of(container(spec, "vllm"))
    assert mounts["/mnt/adapters/support-tickets"] == {
        "name": "adapter-1",
        "mountPath": "/mnt/adapters/support-tickets",
        "readOnly": True,
    }
    # The parent stays writable so the runtime can create the nested mount point.
    assert mounts["/mnt/adapters"]["readOnly"] is False


def test_launcher_finds_adapters_in_the_adapters_dir() -> None:
    out = rendered("adapters")
    assert configmap_file(out, "inference.yaml")["adaptersDir"] == "/mnt/adapters"
    assert out.notes.count("  - ") == 2
    assert "falcon-7b-adapter" in out.notes


def test_without_adapters_there_are_no_init_containers_and_the_dir_is_read_only() -> None:
    spec = vllm_pod(rendered())
    assert "initContainers" not in spec
    assert mounts_of(container(spec, "vllm"))["/mnt/adapters"]["readOnly"] is True


def test_duplicate_adapter_names_are_refused() -> None:
    twice = [{"name": "a", "image": "r/a:1"}, {"name": "a", "image": "r/b:1"}]
    with pytest.raises(helm_python.HelmRenderError, match=r'adapters: the name "a" is used twice'):
        rendered(adapters=twice)


# --- scheduling -----------------------------------------------------------------------


def test_tolerations_cover_the_gpu_the_pool_taints_and_the_workspace() -> None:
    assert vllm_pod(rendered("tensor-parallel"))["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "sku", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"},
        {
            "key": "kubernetes.azure.com/scalesetpriority",
            "operator": "Equal",
            "value": "spot",
            "effect": "NoSchedule",
        },
        {
            "key": "dedicated",
            "operator": "Equal",
            "value": "ml",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]


def test_a_pool_taint_without_value_is_tolerated_by_existence_once() -> None:
    taints = [
        {"key": "nvidia.com/gpu", "effect": "NoSchedule"},
        {"key": "a", "effect": "NoExecute"},
    ]
    tolerations = vllm_pod(rendered(pool={"taints": taints}))["tolerations"]
    assert tolerations == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "a", "operator": "Exists", "effect": "NoExecute"},
    ]


def test_node_selector_merges_pool_labels_with_the_workspace_selector() -> None:
    assert vllm_pod(rendered("tensor-parallel"))["nodeSelector"] == {
        "node.kubernetes.io/instance-type": "Standard_NC96ads_A100_v4",
        "modelsync.dev/pool": "a100",
        "topology.kubernetes.io/zone": "westeurope-1",
    }
    clash = rendered(pool={"labels": {"k": "pool"}}, nodeSelector={"k": "workspace"})
    assert vllm_pod(clash)["nodeSelector"] == {"k": "workspace"}
    assert "nodeSelector" not in vllm_pod(rendered())


def test_affinity_is_passed_through() -> None:
    affinity = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "preference": {
                        "matchExpressions": [{"key": "app", "operator": "In", "values": ["phi"]}]
                    },
                }
            ]
        }
    }
    assert vllm_pod(rendered(affinity=affinity))["affinity"] == affinity


def test_rollouts_never_need_spare_gpus_by_default() -> None:
    strategy = rendered().one("Deployment")["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }


# --- security and labels --------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "adapters", "pvc-cache"])
def test_every_container_is_locked_down(name: str) -> None:
    spec = vllm_pod(rendered(name))
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 1000
    assert spec["securityContext"]["fsGroup"] == 1000
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
    assert spec["enableServiceLinks"] is False
    assert_locked_down(spec)


def test_every_path_vllm_writes_is_a_writable_volume() -> None:
    vllm = container(vllm_pod(rendered()), "vllm")
    writable = [m["mountPath"] for m in vllm["volumeMounts"] if not m.get("readOnly")]
    cache_vars = {
        name: entry["value"]
        for name, entry in env_of(vllm).items()
        if name.endswith(("_HOME", "_DIR", "_PATH", "_ROOT")) or name in ("HOME", "TMPDIR")
    }
    assert {"HOME", "XDG_CACHE_HOME", "VLLM_CACHE_ROOT", "TRITON_CACHE_DIR", "HF_HOME"} <= set(
        cache_vars
    )
    for name, path in cache_vars.items():
        assert any(path == m or path.startswith(m + "/") for m in writable), (name, path)
    assert {"/tmp", "/dev/shm"} <= set(writable)


@pytest.mark.parametrize("name", ["default", "autoscaling-keda", "pvc-cache"])
def test_every_object_carries_the_modelsync_labels(name: str) -> None:
    out = rendered(name)
    workspace = values(name)["workspace"]
    for obj in [*out.objects, out.one("Deployment")["spec"]["template"]]:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == CHART
        assert labels["app.kubernetes.io/instance"] == workspace["name"]
        assert labels["app.kubernetes.io/version"] == "0.1.0"
        assert labels["app.kubernetes.io/component"] == "inference"
        assert labels["app.kubernetes.io/part-of"] == "modelsync"
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        assert labels["helm.sh/chart"] == "workspace-inference-0.1.0"
        assert labels["modelsync.dev/workspace"] == workspace["name"]
        assert labels["modelsync.dev/cluster"] == workspace["cluster"]


# --- service, config, autoscaling -----------------------------------------------------


def test_service_maps_port_80_to_the_vllm_port() -> None:
    out = rendered()
    [port] = out.one("Service")["spec"]["ports"]
    assert (port["name"], port["port"], port["targetPort"]) == ("http", 80, "http")
    [container_port] = container(vllm_pod(out), "vllm")["ports"]
    assert (container_port["name"], container_port["containerPort"]) == ("http", 5000)
    selector = out.one("Service")["spec"]["selector"]
    assert (
        selector.items() <= out.one("Deployment")["spec"]["template"]["metadata"]["labels"].items()
    )


# --- who may reach vLLM ----------------------------------------------------------------


def test_a_network_policy_admits_only_the_namespace_by_default() -> None:
    """vLLM's OpenAI API has no authentication: by default only pods of the release's own
    namespace (an app, a RAG engine) reach the server port."""
    out = rendered()
    policy = out.one("NetworkPolicy")
    spec = policy["spec"]
    labels = out.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert spec["podSelector"]["matchLabels"].items() <= labels.items()
    assert spec["policyTypes"] == ["Ingress"]
    assert spec["ingress"] == [
        {"ports": [{"port": "http", "protocol": "TCP"}], "from": [{"podSelector": {}}]}
    ]
    assert policy["metadata"]["namespace"] == "ml"


def test_more_peers_are_added_and_none_means_nobody() -> None:
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}}
    [rule] = rendered(networkPolicy={"from": [monitoring]}).one("NetworkPolicy")["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {}}, monitoring]
    closed = rendered(networkPolicy={"sameNamespace": False}).one("NetworkPolicy")["spec"]
    assert closed["ingress"] == []
    assert "NetworkPolicy" not in rendered(networkPolicy={"enabled": False}).kinds()


def test_an_empty_peer_is_refused_since_it_would_admit_everyone() -> None:
    with pytest.raises(helm_python.HelmValuesError):
        chart(CHART).validate_schema(values(networkPolicy={"from": [{}]}))


def test_a_different_vllm_port_reaches_the_container_and_the_launcher() -> None:
    out = rendered(vllm={"port": 8000})
    assert container(vllm_pod(out), "vllm")["ports"][0]["containerPort"] == 8000
    assert configmap_file(out, "inference.yaml")["port"] == 8000
    assert out.one("Service")["spec"]["ports"][0]["port"] == 80


def test_the_launcher_runs_with_the_mounted_config() -> None:
    vllm = container(vllm_pod(rendered()), "vllm")
    assert vllm["command"] == ["modelsync-launch"]
    assert vllm["args"] == ["--config", "/etc/modelsync/inference.yaml"]
    mount = mounts_of(vllm)["/etc/modelsync/inference.yaml"]
    assert (mount["name"], mount["subPath"], mount["readOnly"]) == (
        "config",
        "inference.yaml",
        True,
    )


def test_config_changes_roll_the_pods() -> None:
    def checksum(out: Rendered) -> str:
        annotations = out.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["checksum/config"])

    base = checksum(rendered())
    assert checksum(rendered()) == base
    assert checksum(rendered(vllm={"maxModelLen": 8192})) != base
    assert checksum(rendered(replicaCount=3)) == base


@pytest.mark.parametrize("name", ["autoscaling-keda", "autoscaling-hpa"])
def test_autoscaling_leaves_replicas_to_the_autoscaler(name: str) -> None:
    assert "replicas" not in rendered(name).one("Deployment")["spec"]


def test_without_autoscaling_replicas_come_from_values() -> None:
    out = rendered(replicaCount=3)
    assert out.one("Deployment")["spec"]["replicas"] == 3
    assert not ({"HorizontalPodAutoscaler", "ScaledObject"} & out.kinds())


def test_keda_scales_on_queued_requests() -> None:
    scaled = rendered("autoscaling-keda").one("ScaledObject")["spec"]
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "workspace-qwen-2-5-7b",
    }
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (1, 6)
    [trigger] = scaled["triggers"]
    assert trigger["type"] == "prometheus"
    assert trigger["metadata"]["threshold"] == "8"
    assert trigger["metadata"]["query"] == (
        'sum(vllm:num_requests_waiting{namespace="ml",model_name="qwen2.5-7b-instruct"})'
    )


def test_hpa_scales_on_the_queued_requests_pods_metric() -> None:
    hpa = rendered("autoscaling-hpa").one("HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 8)
    [metric] = hpa["metrics"]
    assert metric["pods"]["metric"]["name"] == "vllm_num_requests_waiting"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "4"}


def test_service_monitor_and_pdb_follow_the_service() -> None:
    out = rendered("autoscaling-keda")
    monitor = out.one("ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        out.one("Service")["metadata"]["labels"].items()
    )
    assert out.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1


# --- defaults, images, notes ----------------------------------------------------------


def test_defaults_serve_the_kaito_quick_start_model() -> None:
    out = render(CHART, None, release="workspace-phi-3-5-mini")
    config = configmap_file(out, "inference.yaml")
    assert config["model"] == "microsoft/Phi-3.5-mini-instruct"
    assert config["servedModelName"] == "phi-3.5-mini-instruct"
    assert container(vllm_pod(out), "vllm")["image"] == "ghcr.io/modelsync/inference:0.1.0"
    report = helm_python.lint(chart_dir(CHART), strict=True, kube_version=LINT_KUBE_VERSION)
    assert report["messages"] == []


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ({"tag": "v2"}, "ghcr.io/modelsync/inference:v2"),
        ({"tag": "v2@sha256:" + "a" * 64}, "ghcr.io/modelsync/inference:v2@sha256:" + "a" * 64),
        ({"tag": "@sha256:" + "b" * 64}, "ghcr.io/modelsync/inference@sha256:" + "b" * 64),
        ({"repository": "registry.local/vllm-cpu", "tag": ""}, "registry.local/vllm-cpu:0.1.0"),
    ],
)
def test_image_reference(image: dict[str, str], expected: str) -> None:
    assert container(vllm_pod(rendered(image=image)), "vllm")["image"] == expected


def test_notes_show_how_to_call_the_model() -> None:
    notes = rendered("gated-model").notes
    assert "kubectl -n ml port-forward svc/workspace-llama-3-1-8b 8000:80" in notes
    assert "curl http://localhost:8000/v1/chat/completions" in notes
    assert '"model": "llama-3.1-8b-instruct"' in notes


# --- bad values -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"resources": {"gpus": -1}}, "at '/resources/gpus': minimum: got -1, want 0"),
        ({"bogus": True}, "additional properties 'bogus' not allowed"),
        (
            {"vllm": {"tensorParalelSize": 2}},
            "at '/vllm': additional properties 'tensorParalelSize'",
        ),
        ({"resources": {"requests": {"nvidia.com/gpu": 1}}}, "at '/resources/requests'"),
        ({"adapters": [{"name": "a"}]}, "at '/adapters/0': 'oneOf' failed"),
        (
            {"adapters": [{"name": "a", "image": "r/a:1", "volumeSource": {"emptyDir": {}}}]},
            "at '/adapters/0': 'oneOf' failed",
        ),
        ({"adapters": [{"name": "Not_A_Label", "image": "r/a:1"}]}, "at '/adapters/0/name'"),
        (
            {"adapters": [{"name": "a", "image": "r/a:1", "strength": "2"}]},
            "at '/adapters/0/strength'",
        ),
        ({"vllm": {"dtype": "int4"}}, "at '/vllm/dtype'"),
        ({"vllm": {"tensorParallelSize": 0}}, "at '/vllm/tensorParallelSize'"),
        ({"model": {"accessSecret": "HF Token"}}, "at '/model/accessSecret'"),
        ({"pool": {"taints": [{"key": "a", "effect": "Sometimes"}]}}, "at '/pool/taints/0/effect'"),
        ({"tolerations": [{"key": "a", "operatr": "Exists"}]}, "at '/tolerations/0'"),
        ({"modelCache": {"type": "hostPath"}}, "at '/modelCache/type'"),
        ({"autoscaling": {"kind": "vpa"}}, "at '/autoscaling/kind'"),
    ],
)
def test_bad_values_are_refused_naming_the_key(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        chart(CHART).validate_schema(with_values(values(), **bad))
    assert message in str(refused.value)


# --- custom pod template (KAITO inference.template) -------------------------------------


def test_a_custom_pod_template_is_served_as_the_pods_containers() -> None:
    out = rendered("custom-template")
    deployment = out.one("Deployment")
    spec = pod_spec(deployment)
    assert [c["name"] for c in spec["containers"]] == ["custom-llm-container"]
    served = container(spec, "custom-llm-container")
    assert served["image"] == "mcr.microsoft.com/aks/kaito/kaito-base:0.2.0"
    assert served["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert spec["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
    # modelsync's placement is added to the template: pool, GPU toleration, affinity.
    assert spec["nodeSelector"] == {"agentpool": "a100"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    assert "nodeAffinity" in spec["affinity"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["team"] == "llm"
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (port,) = out.one("Service")["spec"]["ports"]
    assert port["targetPort"] == 5000


def test_a_custom_pod_template_keeps_modelsyncs_labels_over_its_own() -> None:
    template = values("custom-template")["podTemplate"]
    template["metadata"]["labels"]["app.kubernetes.io/instance"] = "someone-else"
    deployment = rendered("custom-template", podTemplate=template).one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
