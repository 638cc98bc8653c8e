"""The chart policy on its own: what Git-supplied values and rendered pods may do."""

from __future__ import annotations

from typing import Any

import pytest

from controller.core.chartpolicy import (
    ChartPolicy,
    manifest_violations,
    pod_violations,
    repository_violation,
    values_violations,
)

STRICT = ChartPolicy()


def paths(values: Any, policy: ChartPolicy = STRICT) -> list[tuple[str | int, ...]]:
    return [v.path for v in values_violations(values, policy)]


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"securityContext": {"privileged": True}}, ("securityContext", "privileged")),
        (
            {"securityContext": {"allowPrivilegeEscalation": True}},
            ("securityContext", "allowPrivilegeEscalation"),
        ),
        ({"podSecurityContext": {"runAsUser": 0}}, ("podSecurityContext", "runAsUser")),
        ({"podSecurityContext": {"runAsNonRoot": False}}, ("podSecurityContext", "runAsNonRoot")),
        ({"podSecurityContext": None}, ("podSecurityContext",)),
        ({"securityContext": {"runAsNonRoot": None}}, ("securityContext", "runAsNonRoot")),
        (
            {"securityContext": {"seccompProfile": {"type": "Unconfined"}}},
            ("securityContext", "seccompProfile"),
        ),
        ({"securityContext": {"procMount": "Unmasked"}}, ("securityContext", "procMount")),
        ({"hostNetwork": True}, ("hostNetwork",)),
        ({"hostPID": True}, ("hostPID",)),
        ({"hostIPC": True}, ("hostIPC",)),
        (
            {"extraVolumes": [{"name": "h", "hostPath": {"path": "/"}}]},
            ("extraVolumes", 0, "hostPath"),
        ),
        ({"x": {"volumeSource": {"nfs": {"server": "n"}}}}, ("x", "volumeSource", "nfs")),
        ({"volumeSource": {"hostPath": {"path": "/"}}}, ("volumeSource", "hostPath")),
        (
            {"securityContext": {"capabilities": {"add": ["SYS_ADMIN"]}}},
            ("securityContext", "capabilities", "add"),
        ),
        ({"extraEnv": [{"name": "LD_PRELOAD", "value": "/x.so"}]}, ("extraEnv", 0)),
        ({"envFrom": [{"secretRef": {"name": "s"}}]}, ("envFrom",)),
    ],
)
def test_git_values_that_loosen_the_pods_are_refused(
    values: dict[str, Any], path: tuple[str | int, ...]
) -> None:
    assert paths(values) == [path]


def test_harmless_values_pass() -> None:
    values = {
        "image": {"repository": "mirror.acme/inference", "tag": "1"},
        "resources": {"requests": {"cpu": "2"}},
        "securityContext": {"privileged": False, "runAsUser": 1000, "runAsNonRoot": True},
        "extraEnv": [],
        "volumeSource": {"persistentVolumeClaim": {"claimName": "c"}},
    }
    assert paths(values) == []


@pytest.mark.parametrize(
    ("config", "values"),
    [
        ({"allowPrivileged": True}, {"securityContext": {"privileged": True}}),
        ({"allowRunAsRoot": True}, {"podSecurityContext": {"runAsUser": 0}}),
        ({"allowHostNamespaces": True}, {"hostNetwork": True}),
        ({"extraVolumeTypes": ["hostPath"]}, {"v": [{"hostPath": {"path": "/data"}}]}),
        ({"allowedCapabilities": ["NET_ADMIN"]}, {"capabilities": {"add": ["NET_ADMIN"]}}),
        (
            {"allowedEnv": ["VLLM_CPU_KVCACHE_SPACE"]},
            {"extraEnv": [{"name": "VLLM_CPU_KVCACHE_SPACE"}]},
        ),
        ({"allowEnvFrom": True}, {"envFrom": [{"configMapRef": {"name": "c"}}]}),
    ],
)
def test_the_controllers_config_allows_what_it_names(
    config: dict[str, Any], values: dict[str, Any]
) -> None:
    assert paths(values) != []
    assert paths(values, ChartPolicy.from_config(config)) == []


def test_chart_sources_are_the_bundled_charts_unless_listed() -> None:
    assert repository_violation("", STRICT) is None
    refused = repository_violation("https://evil.test/charts", STRICT)
    assert refused is not None
    assert "bundled charts only" in refused
    listed = ChartPolicy.from_config({"chartRepositories": ["oci://ghcr.io/acme/charts/"]})
    assert repository_violation("oci://ghcr.io/acme/charts", listed) is None
    assert repository_violation("oci://ghcr.io/acme/other", listed) is not None


LOCKED = {
    "runAsNonRoot": True,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def pod(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
        "containers": [{"name": "vllm", "securityContext": dict(LOCKED)}],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }
    return spec | overrides


def test_a_locked_down_pod_passes() -> None:
    assert pod_violations(pod(), STRICT) == []


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (pod(hostNetwork=True), ("hostNetwork",)),
        (pod(volumes=[{"name": "h", "hostPath": {"path": "/"}}]), ("volumes", 0, "hostPath")),
        (
            pod(containers=[{"name": "c", "securityContext": LOCKED | {"privileged": True}}]),
            ("containers", 0, "securityContext", "privileged"),
        ),
        (
            # Nothing said anywhere: the image's user, perhaps root, would run it.
            pod(
                securityContext={},
                containers=[{"name": "c", "securityContext": {"allowPrivilegeEscalation": False}}],
            ),
            ("containers", 0, "securityContext", "runAsNonRoot"),
        ),
        (
            pod(containers=[{"name": "c", "securityContext": {"runAsNonRoot": True}}]),
            ("containers", 0, "securityContext", "allowPrivilegeEscalation"),
        ),
        (
            pod(
                initContainers=[
                    {"name": "i", "securityContext": LOCKED, "ports": [{"hostPort": 80}]}
                ]
            ),
            ("initContainers", 0, "ports", 0),
        ),
        (
            pod(
                containers=[
                    {
                        "name": "c",
                        "securityContext": LOCKED | {"capabilities": {"add": ["SYS_ADMIN"]}},
                    }
                ]
            ),
            ("containers", 0, "securityContext", "capabilities", "add"),
        ),
    ],
)
def test_rendered_pods_are_judged_by_their_effective_settings(
    spec: dict[str, Any], field: tuple[str | int, ...]
) -> None:
    assert [v.path for v in pod_violations(spec, STRICT)] == [field]


def test_manifest_violations_name_the_object_and_field() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "phi"},
        "spec": {"template": {"spec": pod(hostPID=True)}},
    }
    cron = {
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {"jobTemplate": {"spec": {"template": {"spec": pod(hostIPC=True)}}}},
    }
    service = {"kind": "Service", "metadata": {"name": "phi"}, "spec": {"hostNetwork": True}}
    assert manifest_violations([deployment, cron, service], STRICT) == [
        "Deployment phi: hostPID: hostPID is not allowed by the policy "
        "(policy.allowHostNamespaces)",
        "CronJob c: hostIPC: hostIPC is not allowed by the policy (policy.allowHostNamespaces)",
    ]


def test_a_leader_worker_sets_leader_and_worker_pods_are_both_checked() -> None:
    group: dict[str, Any] = {
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "r1"},
        "spec": {
            "leaderWorkerTemplate": {
                "size": 6,
                "leaderTemplate": {"spec": pod()},
                "workerTemplate": {"spec": pod(hostNetwork=True)},
            }
        },
    }
    assert manifest_violations([group], STRICT) == [
        "LeaderWorkerSet r1 workerTemplate: hostNetwork: hostNetwork is not allowed by the "
        "policy (policy.allowHostNamespaces)",
    ]
    group["spec"]["leaderWorkerTemplate"]["leaderTemplate"] = {"spec": pod(hostPID=True)}
    assert [line.split(":")[0] for line in manifest_violations([group], STRICT)] == [
        "LeaderWorkerSet r1 leaderTemplate",
        "LeaderWorkerSet r1 workerTemplate",
    ]
