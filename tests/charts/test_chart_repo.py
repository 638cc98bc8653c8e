"""All charts: strict lint, valid Kubernetes objects, the chart repository build, the docs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python
import pytest
import yaml

from tests.charts.rendering import (
    CHART_NAMES,
    CHARTS_DIR,
    CRD_SCHEMAS,
    KUBE_VERSIONS,
    LEADER_WORKER_SET,
    LINT_KUBE_VERSION,
    Scenario,
    chart,
    chart_dir,
    render_scenario,
    scenarios,
    validate,
)

ALL_SCENARIOS = scenarios()
ARTIFACT_HUB_KEYS = {
    "artifacthub.io/license",
    "artifacthub.io/links",
    "artifacthub.io/images",
    "artifacthub.io/changes",
    "artifacthub.io/category",
}


def scenario_id(item: Scenario) -> str:
    return item.id


def test_every_chart_has_the_scenarios_ci_exercises() -> None:
    names = {(s.chart, s.name) for s in ALL_SCENARIOS}
    expected = {
        "workspace-inference": {
            "default",
            "tensor-parallel",
            "adapters",
            "autoscaling-keda",
            "autoscaling-hpa",
            "pvc-cache",
            "gated-model",
            "custom-template",
            "multi-node",
        },
        "workspace-tuning": {
            "lora-urls",
            "qlora-volume",
            "oci-output",
            "image-input",
            "configmap-override",
        },
        "workspace-rag": {"default", "existing-claim", "ephemeral"},
        "modelsync": {"default", "ha", "ssh-git", "monitoring", "notifications"},
    }
    for chart_name, wanted in expected.items():
        assert {n for c, n in names if c == chart_name} == wanted


@pytest.mark.parametrize("item", ALL_SCENARIOS, ids=scenario_id)
def test_lint_is_clean(item: Scenario) -> None:
    report = helm_python.lint(
        chart_dir(item.chart), item.values, strict=True, kube_version=LINT_KUBE_VERSION
    )
    assert report["errors"] == []
    assert report["messages"] == []  # not even INFO


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("item", ALL_SCENARIOS, ids=scenario_id)
def test_every_object_is_valid_for_kubernetes(item: Scenario, kube_version: str) -> None:
    out = render_scenario(item)
    assert out.objects
    for obj in out.objects:
        # Custom resources go through their CRD's schema (LeaderWorkerSet) or CRD_SCHEMAS,
        # everything else through kubernetes-validate's strict schemas; an unknown kind
        # raises, never passes.
        checked = validate(obj, kube_version)
        key = (obj["apiVersion"], obj["kind"])
        custom = key in CRD_SCHEMAS or key == LEADER_WORKER_SET
        assert checked.startswith("crd-schema:") == custom


def test_custom_resources_are_checked_against_their_essential_schema() -> None:
    item = next(s for s in ALL_SCENARIOS if s.id == "workspace-inference:autoscaling-keda")
    scaled = next(o for o in render_scenario(item).objects if o["kind"] == "ScaledObject")
    scaled["spec"]["triggers"][0]["metadata"]["threshold"] = 8  # KEDA wants strings
    with pytest.raises(Exception, match="is not of type 'string'"):
        validate(scaled, KUBE_VERSIONS[0])


def test_objects_are_namespaced_in_the_release_namespace() -> None:
    for item in ALL_SCENARIOS:
        for obj in render_scenario(item, namespace="team-a").objects:
            if obj["kind"] in ("ClusterRole", "ClusterRoleBinding"):
                assert "namespace" not in obj["metadata"]
            elif obj["kind"] in ("Role", "RoleBinding") or obj["metadata"]["name"].endswith(
                "-dashboard"
            ):
                continue  # managed namespaces and the Grafana namespace are chosen by values
            else:
                assert obj["metadata"]["namespace"] == "team-a", (item.id, obj["kind"])


# --- Chart.yaml, values and schema conventions ----------------------------------------


@pytest.mark.parametrize("name", CHART_NAMES)
def test_chart_metadata(name: str) -> None:
    meta = chart(name).metadata
    assert meta["apiVersion"] == "v2"
    assert (meta["version"], meta["appVersion"]) == ("0.1.0", "0.1.0")
    assert meta["kubeVersion"] == ">=1.29.0-0"
    assert meta["home"].startswith("https://")
    assert meta["sources"]
    assert meta["maintainers"]
    assert meta["keywords"]
    assert meta["icon"].startswith("https://")
    assert set(meta["annotations"]) >= ARTIFACT_HUB_KEYS
    for key in ("artifacthub.io/links", "artifacthub.io/images", "artifacthub.io/changes"):
        assert isinstance(yaml.safe_load(meta["annotations"][key]), list), key
    assert (CHARTS_DIR / "icon.svg").is_file()


def default_images(values: Any, app_version: str) -> set[str]:
    """repository:tag of every image block ({repository, tag}) in the default values."""
    found: set[str] = set()
    if isinstance(values, dict):
        if {"repository", "tag"} <= set(values):
            found.add(f"{values['repository']}:{values['tag'] or app_version}")
        for item in values.values():
            found |= default_images(item, app_version)
    return found


@pytest.mark.parametrize("name", CHART_NAMES)
def test_artifact_hub_lists_every_image_the_chart_pulls(name: str) -> None:
    loaded = chart(name)
    listed = {
        entry["image"]
        for entry in yaml.safe_load(loaded.metadata["annotations"]["artifacthub.io/images"])
    }
    assert default_images(loaded.values, loaded.metadata["appVersion"]) == listed
    assert all(not image.endswith(":latest") for image in listed)


def schema_nodes(node: Any, path: str = "") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if "properties" in node and isinstance(node["properties"], dict):
            found.append((path or "/", node))
        for key, item in node.items():
            found += schema_nodes(item, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            found += schema_nodes(item, f"{path}/{index}")
    return found


@pytest.mark.parametrize("name", CHART_NAMES)
def test_values_schema_refuses_unknown_keys_everywhere_and_describes_every_value(
    name: str,
) -> None:
    schema = chart(name).schema
    assert schema is not None
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    for path, node in schema_nodes(schema):
        # oneOf branches only constrain properties the enclosing object declares.
        if "/oneOf/" in path:
            continue
        assert node.get("additionalProperties") is False, path
        for key, prop in node["properties"].items():
            described = "description" in prop or (
                "$ref" in prop
                and "description" in (schema["definitions"][prop["$ref"].rsplit("/", 1)[1]])
            )
            assert described, f"{path}/{key}"


@pytest.mark.parametrize("name", CHART_NAMES)
def test_values_yaml_keys_all_exist_in_the_schema(name: str) -> None:
    # The schema validating the defaults with additionalProperties: false proves it for
    # charts that render with defaults; here the check is direct, for every chart.
    schema = chart(name).schema
    assert schema is not None

    def walk(values: Any, node: dict[str, Any], path: str) -> None:
        if "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        properties = node.get("properties")
        if not isinstance(values, dict) or not isinstance(properties, dict):
            return
        for key, item in values.items():
            assert key in properties, f"{path}.{key} is in values.yaml but not in the schema"
            walk(item, properties[key], f"{path}.{key}")

    walk(chart(name).values, schema, name)


# --- docs and the chart repository ----------------------------------------------------


def test_readme_values_tables_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(CHARTS_DIR / "docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_package_builds_an_indexed_repository(tmp_path: Path) -> None:
    out = tmp_path / "dist" / "charts"
    result = subprocess.run(
        [
            sys.executable,
            str(CHARTS_DIR / "package.py"),
            "--out",
            str(out),
            "--url",
            "https://modelsync.github.io/modelsync",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    archives = sorted(p.name for p in out.glob("*.tgz"))
    assert archives == [f"{name}-0.1.0.tgz" for name in sorted(CHART_NAMES)]
    index = yaml.safe_load((out / "index.yaml").read_text())
    assert set(index["entries"]) == set(CHART_NAMES)
    for name, [entry] in index["entries"].items():
        archive = out / f"{name}-0.1.0.tgz"
        assert entry["version"] == "0.1.0"
        assert entry["urls"] == [f"https://modelsync.github.io/modelsync/{name}-0.1.0.tgz"]
        assert f"sha256:{entry['digest']}" == helm_python.digest(archive)
        with helm_python.Chart.load(archive) as packaged:
            files = {f["name"] for f in packaged.files}
            assert "README.md" in files
            assert not any(f.startswith("ci/") for f in files)
            assert packaged.schema == chart(name).schema
    assert "index:" in result.stdout


def test_package_refuses_a_chart_that_does_not_lint(tmp_path: Path) -> None:
    broken = tmp_path / "workspace-inference"
    shutil.copytree(chart_dir("workspace-inference"), broken)
    (broken / "ci" / "default-values.yaml").write_text("vllm:\n  tensorParallelSize: -1\n")
    result = subprocess.run(
        [
            sys.executable,
            str(CHARTS_DIR / "package.py"),
            "--out",
            str(tmp_path / "out"),
            str(broken),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "lint failed" in result.stderr
    assert "workspace-inference [default] ERROR" in result.stderr
    assert "/vllm/tensorParallelSize" in result.stderr
    assert not (tmp_path / "out").exists()
