"""The kind cluster of `make e2e`, checked without Docker: kind's schema, the Kubernetes version
policy, and agreement with the clusters repo's GPU pool it stands in for."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.e2e import layout

CHARTS = sorted((layout.REPO_ROOT / "charts").glob("*/Chart.yaml"))
NODE_IMAGE = re.compile(r"^kindest/node:v(\d+)\.(\d+)\.(\d+)@sha256:[0-9a-f]{64}$")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def kind_config() -> dict[str, Any]:
    config: dict[str, Any] = load(layout.KIND_CONFIG)
    return config


def schema_errors(config: Any) -> list[str]:
    schema = json.loads(layout.KIND_SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    errors = Draft202012Validator(schema).iter_errors(config)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def workers() -> list[dict[str, Any]]:
    return [n for n in kind_config()["nodes"] if n["role"] == "worker"]


def join_taints(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Taints the node's kubeadm JoinConfiguration patches give it when it joins."""
    taints: list[dict[str, Any]] = []
    for patch in node.get("kubeadmConfigPatches", []):
        body = yaml.safe_load(patch)
        if body.get("kind") == "JoinConfiguration":
            taints += body.get("nodeRegistration", {}).get("taints", [])
    return taints


def gpu_pool() -> dict[str, Any]:
    cluster = load(layout.CLUSTERS_DIR / layout.MODELSYNC_CLUSTER / "cluster.yaml")
    pools = {p["name"]: p for p in cluster["spec"]["nodePools"]}
    pool: dict[str, Any] = pools[layout.GPU_POOL]
    return pool


def test_the_kind_config_passes_the_kind_config_schema() -> None:
    assert schema_errors(kind_config()) == []


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda c: c.update(nodez=[]), "Additional properties"),
        (lambda c: c["nodes"][1].update(label={"a": "b"}), "Additional properties"),
        (lambda c: c["nodes"][0].update(role="master"), "is not one of"),
        (lambda c: c["nodes"][0].update(image="kindest/node:v1.35.8"), "does not match"),
        (lambda c: c.update(apiVersion="kind.x-k8s.io/v1alpha3"), "was expected"),
        (lambda c: c["nodes"][2].update(kubeadmConfigPatches=["taints: []"]), "does not match"),
    ],
)
def test_the_schema_refuses_what_kind_would_refuse(change: Any, complaint: str) -> None:
    config = copy.deepcopy(kind_config())
    change(config)
    errors = schema_errors(config)
    assert errors
    assert complaint in " ".join(errors)


def test_one_control_plane_and_two_workers_run_one_pinned_image() -> None:
    nodes = kind_config()["nodes"]
    assert [n["role"] for n in nodes] == ["control-plane", "worker", "worker"]
    assert len({n["image"] for n in nodes}) == 1
    assert NODE_IMAGE.match(nodes[0]["image"])


def minimum_kube_version(chart: Path) -> tuple[int, int, int]:
    constraint = str(load(chart)["kubeVersion"])
    match = re.fullmatch(r">=\s*v?(\d+)\.(\d+)\.(\d+)(-0)?", constraint)
    assert match, f"{chart}: kubeVersion {constraint!r} is not a plain >= bound"
    major, minor, patch = (int(x) for x in match.groups()[:3])
    return major, minor, patch


@pytest.mark.parametrize("chart", CHARTS, ids=lambda p: p.parent.name)
def test_the_node_image_satisfies_the_charts_kube_version(chart: Path) -> None:
    match = NODE_IMAGE.match(kind_config()["nodes"][0]["image"])
    assert match
    version = tuple(int(x) for x in match.groups())
    assert version >= minimum_kube_version(chart)


def test_the_decision_log_names_the_node_image_and_its_kind_release() -> None:
    decisions = (layout.REPO_ROOT / "docs" / "decisions.md").read_text(encoding="utf-8")
    image = kind_config()["nodes"][0]["image"]
    assert image in decisions
    assert f"kind {layout.KIND_RELEASE}" in decisions
    assert f"kind {layout.KIND_RELEASE}" in layout.KIND_CONFIG.read_text(encoding="utf-8")


def test_exactly_one_worker_stands_in_for_the_gpu_pool() -> None:
    pool = gpu_pool()
    gpu_workers = [
        n for n in workers() if n.get("labels", {}).get(layout.POOL_LABEL) == layout.GPU_POOL
    ]
    assert len(gpu_workers) == pool["nodes"] == 1
    worker = gpu_workers[0]
    assert pool["labels"].items() <= worker["labels"].items()
    assert join_taints(worker) == pool["taints"] == [layout.GPU_TAINT]
    assert pool["gpusPerNode"] == layout.GPUS_PER_NODE


def test_the_other_worker_takes_ordinary_pods() -> None:
    plain = [n for n in workers() if n.get("labels", {}).get(layout.POOL_LABEL) != layout.GPU_POOL]
    assert len(plain) == 1
    assert join_taints(plain[0]) == []
