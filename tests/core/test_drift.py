"""Drift as a pure comparison: a release manifest's object as a subset of the live object."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from controller.core.drift import differs, may_be_absent, quantity, same_scalar

MANIFEST: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "phi",
        "namespace": "default",
        "labels": {"app.kubernetes.io/name": "workspace-inference", "tier": "gpu"},
    },
    "spec": {
        "replicas": 1,
        "selector": {"matchLabels": {"app": "phi"}},
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "vllm",
                        "image": "vllm:0.9",
                        "args": ["--port", "8000"],
                        "resources": {"limits": {"nvidia.com/gpu": 1, "memory": "16Gi"}},
                        "env": [{"name": "A", "value": "1"}, {"name": "EMPTY", "value": ""}],
                    }
                ],
                "tolerations": [{"key": "gpu", "operator": "Exists"}],
                "automountServiceAccountToken": False,
                "volumes": [],
            }
        },
    },
}


def live_copy() -> dict[str, Any]:
    """What the API server would hand back for MANIFEST: server fields, defaults, status."""
    live = copy.deepcopy(MANIFEST)
    live["metadata"] |= {
        "uid": "u-1",
        "resourceVersion": "42",
        "generation": 3,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "annotations": {"deployment.kubernetes.io/revision": "1"},
    }
    live["spec"]["strategy"] = {"type": "RollingUpdate"}
    container = live["spec"]["template"]["spec"]["containers"][0]
    container["terminationMessagePath"] = "/dev/termination-log"
    container["resources"]["limits"] = {"nvidia.com/gpu": "1", "memory": "16384Mi"}
    container["env"] = [{"name": "A", "value": "1"}, {"name": "EMPTY"}]
    del live["spec"]["template"]["spec"]["automountServiceAccountToken"]
    del live["spec"]["template"]["spec"]["volumes"]
    live["status"] = {"replicas": 1, "availableReplicas": 1}
    return live


_DELETE = object()
CONTAINER = ("spec", "template", "spec", "containers", 0)
VLLM = "spec.template.spec.containers[name=vllm]"


def edit(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    """live_copy() with one field changed (or deleted, with _DELETE)."""
    live = live_copy()
    node: Any = live
    for part in path[:-1]:
        node = node[part]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return live


def test_a_live_object_that_only_adds_defaults_and_status_has_not_drifted() -> None:
    assert differs(MANIFEST, live_copy()) == []


@pytest.mark.parametrize(
    ("path", "value", "drifted"),
    [
        (("spec", "replicas"), 3, "spec.replicas"),
        (("spec", "replicas"), "1", None),  # the same value as YAML reads it
        (("spec", "replicas"), 1.0, None),
        ((*CONTAINER, "image"), "vllm:latest", f"{VLLM}.image"),
        ((*CONTAINER, "args", 1), "9000", f"{VLLM}.args[1]"),
        ((*CONTAINER, "args"), ["--port"], f"{VLLM}.args"),
        (("metadata", "labels", "tier"), "cpu", "metadata.labels.tier"),
        (
            ("metadata", "labels", "app.kubernetes.io/name"),
            "x",
            'metadata.labels["app.kubernetes.io/name"]',
        ),
        (
            ("spec", "template", "spec", "tolerations", 0, "operator"),
            "Equal",
            "spec.template.spec.tolerations[0].operator",
        ),
        (
            ("spec", "template", "spec", "automountServiceAccountToken"),
            True,
            "spec.template.spec.automountServiceAccountToken",
        ),
        (("metadata", "resourceVersion"), "99", None),
        (("metadata", "annotations"), {"someone": "else"}, None),
        (("status",), {"replicas": 0}, None),
        (("spec", "selector"), _DELETE, "spec.selector"),
    ],
)
def test_one_changed_field(path: tuple[str | int, ...], value: Any, drifted: str | None) -> None:
    assert differs(MANIFEST, edit(path, value)) == ([drifted] if drifted else [])


def test_named_lists_match_by_name_and_ignore_items_others_added() -> None:
    live = live_copy()
    containers = live["spec"]["template"]["spec"]["containers"]
    containers.insert(0, {"name": "istio-proxy", "image": "proxy"})
    assert differs(MANIFEST, live) == []
    containers.pop(1)
    assert differs(MANIFEST, live) == ["spec.template.spec.containers[name=vllm]"]


def test_a_removed_env_var_and_a_changed_quantity_are_both_reported() -> None:
    live = live_copy()
    container = live["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "EMPTY"}]
    container["resources"]["limits"]["memory"] = "8Gi"
    assert differs(MANIFEST, live) == [
        f"{VLLM}.resources.limits.memory",
        f"{VLLM}.env[name=A]",
    ]


def test_a_type_change_is_drift() -> None:
    assert differs({"spec": {"a": {"b": 1}}}, {"spec": {"a": "b"}}) == ["spec.a"]
    assert differs({"spec": {"a": [1]}}, {"spec": {"a": {"0": 1}}}) == ["spec.a"]


@pytest.mark.parametrize(
    ("want", "have", "same"),
    [
        (1, "1", True),
        (1, 1.0, True),
        ("500m", "0.5", True),
        ("1Gi", "1024Mi", True),
        ("1e3", "1k", True),
        ("2", 3, False),
        (True, "true", True),
        (False, True, False),
        ("vllm:0.9", "vllm:0.9", True),
        ("vllm:0.9", "vllm:0.10", False),
        ("abc", None, False),
    ],
)
def test_scalars_compare_as_yaml_values(want: Any, have: Any, same: bool) -> None:
    assert same_scalar(want, have) is same


def test_quantities() -> None:
    assert quantity("16Gi") == Decimal(16 * 1024**3)
    assert quantity("250m") == Decimal("0.25")
    assert quantity("1.5") == Decimal("1.5")
    assert quantity("Gi") is None
    assert quantity(True) is None


def test_only_a_job_with_a_ttl_may_be_gone() -> None:
    job = {"kind": "Job", "spec": {"ttlSecondsAfterFinished": 604800}}
    assert may_be_absent(job)
    assert not may_be_absent({"kind": "Job", "spec": {}})
    assert not may_be_absent(MANIFEST)
