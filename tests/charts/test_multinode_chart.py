"""charts/workspace-inference with multiNode.nodes > 1: one vLLM server over a group of
nodes, rendered as a LeaderWorkerSet (the ci/multi-node scenario: DeepSeek R1 on six
2 x H100 NVL nodes). Schema validity against the LWS CRD is test_chart_repo's job."""

from __future__ import annotations

from typing import Any

import helm_python
import pytest

from controller.core.chartpolicy import ChartPolicy, manifest_violations
from tests.charts.rendering import (
    Rendered,
    assert_locked_down,
    configmap_file,
    container,
    render,
    scenario,
    with_values,
)

CHART = "workspace-inference"


def rendered(**overrides: Any) -> Rendered:
    v = with_values(scenario(CHART, "multi-node").values, **overrides)
    return render(CHART, v, release=v["workspace"]["name"])


def templates(out: Rendered) -> dict[str, dict[str, Any]]:
    group = out.one("LeaderWorkerSet")["spec"]["leaderWorkerTemplate"]
    return {"leader": group["leaderTemplate"], "worker": group["workerTemplate"]}


def test_a_group_is_one_leader_worker_set_and_no_deployment() -> None:
    out = rendered()
    assert "Deployment" not in out.kinds()
    spec = out.one("LeaderWorkerSet")["spec"]
    assert spec["replicas"] == 1
    assert spec["leaderWorkerTemplate"]["size"] == 6
    assert spec["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
    assert spec["startupPolicy"] == "LeaderCreated"


def test_one_node_renders_the_deployment_as_before() -> None:
    out = rendered(multiNode={"nodes": 1})
    assert "LeaderWorkerSet" not in out.kinds()
    assert "leaderworkerset.sigs.k8s.io/worker-index" not in out.one("Service")["spec"]["selector"]


def test_the_leader_runs_the_ray_head_then_vllm_and_workers_join_it() -> None:
    pods = templates(rendered())
    leader = container(pods["leader"]["spec"], "vllm")
    worker = container(pods["worker"]["spec"], "vllm")
    assert leader["command"] == worker["command"] == ["/bin/sh", "-c"]
    assert leader["args"][0].startswith("ray start --head --port=6379")
    assert leader["args"][0].endswith(
        "exec modelsync-launch --config /etc/modelsync/inference.yaml"
    )
    assert worker["args"] == [
        'exec ray start --address="${LWS_LEADER_ADDRESS}:6379" --disable-usage-stats --block'
    ]
    # Only the leader serves HTTP and is probed; both expose Ray's port.
    assert {p["name"] for p in leader["ports"]} == {"http", "ray"}
    assert {p["name"] for p in worker["ports"]} == {"ray"}
    assert "startupProbe" in leader
    assert not {"startupProbe", "readinessProbe", "livenessProbe"} & set(worker)


def test_vllm_gets_pipeline_parallel_over_ray_in_the_launcher_config() -> None:
    config = configmap_file(rendered(), "inference.yaml")
    assert config["tensorParallelSize"] == 2
    assert config["extraArgs"][:2] == [
        "--pipeline-parallel-size=6",
        "--distributed-executor-backend=ray",
    ]


def test_every_pod_of_the_group_is_locked_down_on_the_pool_with_its_gpus() -> None:
    for role, template in templates(rendered()).items():
        spec = template["spec"]
        assert_locked_down(spec)
        assert spec["nodeSelector"]["modelsync.dev/pool"] == "h100", role
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in (
            spec["tolerations"]
        )
        limits = container(spec, "vllm")["resources"]["limits"]
        assert limits["nvidia.com/gpu"] == 2
        labels = template["metadata"]["labels"]
        assert labels["modelsync.dev/workspace"] == "workspace-deepseek-r1"
        assert labels["modelsync.dev/role"] == role
    assert manifest_violations(rendered().objects, ChartPolicy()) == []


def test_the_chart_policy_sees_the_group_pods() -> None:
    out = rendered(podSecurityContext={"runAsNonRoot": False, "runAsUser": 0})
    lines = manifest_violations(out.objects, ChartPolicy())
    assert any(
        line.startswith("LeaderWorkerSet workspace-deepseek-r1 leaderTemplate") for line in lines
    )
    assert any(
        line.startswith("LeaderWorkerSet workspace-deepseek-r1 workerTemplate") for line in lines
    )


def test_the_service_sends_requests_to_the_leader_only() -> None:
    selector = rendered().one("Service")["spec"]["selector"]
    assert selector["leaderworkerset.sigs.k8s.io/worker-index"] == "0"
    assert selector["app.kubernetes.io/instance"] == "workspace-deepseek-r1"


def test_the_network_policy_lets_the_group_talk_and_keeps_http_to_peers() -> None:
    rules = rendered(networkPolicy={"enabled": True}).one("NetworkPolicy")["spec"]["ingress"]
    http, group = rules
    assert http["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert "ports" not in group
    assert group["from"] == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "workspace-inference",
                    "app.kubernetes.io/instance": "workspace-deepseek-r1",
                }
            }
        }
    ]


def test_a_group_does_not_autoscale() -> None:
    with pytest.raises(helm_python.HelmRenderError, match="does not scale by replicas"):
        rendered(autoscaling={"enabled": True})
