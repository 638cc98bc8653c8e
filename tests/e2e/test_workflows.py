"""The GitHub Actions workflows, checked where they cannot run: pinning, permissions, wiring.

actionlint (run by `make lint`) checks syntax, expressions and types; these tests check the
project's own rules: every action pinned by commit with its version beside it, least
permissions, and the e2e and PR-validation workflows wired to what they drive.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e import layout

WORKFLOWS_DIR = layout.REPO_ROOT / ".github" / "workflows"
WORKFLOWS = sorted(WORKFLOWS_DIR.glob("*.yml"))
PINNED = re.compile(r"^\s*-?\s*uses:\s*[\w.-]+/[\w./-]+@[0-9a-f]{40}\s+#\s*v\d+(\.\d+)*\s*$")
WRITE_SCOPES = {"contents", "packages", "pull-requests"}


def load(path: Path) -> dict[Any, Any]:
    body: dict[Any, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return body


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The ``on:`` mapping (YAML 1.1 reads the bare key ``on`` as True)."""
    on: dict[str, Any] = workflow["on"] if "on" in workflow else workflow[True]
    return on


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [s for job in workflow["jobs"].values() for s in job.get("steps", [])]


def test_the_expected_workflows_exist() -> None:
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "e2e.yml", "validate-clusters.yml", "charts.yml", "images.yml"} <= names


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_with_its_version(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if "uses:" in ln and not ln.lstrip().startswith("#")]
    assert lines
    assert [line for line in lines if not PINNED.match(line)] == []


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_starts_from_read_only_permissions(path: Path) -> None:
    workflow = load(path)
    top = workflow["permissions"]
    assert isinstance(top, dict)
    writes = {scope for scope, level in top.items() if level == "write"}
    if path.name != "validate-clusters.yml":  # a reusable workflow states what callers grant
        assert writes == set()
    for job in workflow["jobs"].values():
        granted = job.get("permissions", {})
        assert {s for s, level in granted.items() if level == "write"} <= WRITE_SCOPES


def test_ci_runs_the_projects_ci_entry_point_on_every_push_and_pull_request() -> None:
    workflow = load(WORKFLOWS_DIR / "ci.yml")
    assert {"push", "pull_request"} <= set(triggers(workflow))
    assert any(s.get("run") == "bash .ci/run" for s in steps(workflow))


def test_e2e_runs_make_e2e_on_pull_requests_that_touch_what_it_exercises() -> None:
    workflow = load(WORKFLOWS_DIR / "e2e.yml")
    paths = triggers(workflow)["pull_request"]["paths"]
    for folder in ("charts", "controller", "presets", "tests/e2e"):
        assert f"{folder}/**" in paths
    assert any(s.get("run") == "make e2e" for s in steps(workflow))


def test_e2e_installs_the_kind_release_of_the_node_image_and_a_matching_kubectl() -> None:
    env = load(WORKFLOWS_DIR / "e2e.yml")["env"]
    config = yaml.safe_load(layout.KIND_CONFIG.read_text(encoding="utf-8"))
    node_version = config["nodes"][0]["image"].split(":")[1].split("@")[0]
    assert env["KIND_VERSION"] == layout.KIND_RELEASE
    assert re.fullmatch(r"[0-9a-f]{64}", env["KIND_SHA256"])
    assert env["KUBECTL_VERSION"] == node_version
    assert env["KIND_CLUSTER_NAME"] == layout.DEFAULT_KIND_CLUSTER


def test_validate_clusters_is_reusable_with_the_documented_inputs() -> None:
    workflow = load(WORKFLOWS_DIR / "validate-clusters.yml")
    on = triggers(workflow)
    assert set(on) == {"workflow_call"}
    inputs = on["workflow_call"]["inputs"]
    assert {"path", "base", "modelsync-version", "cluster", "policy"} <= set(inputs)
    assert workflow["permissions"] == {"contents": "read", "pull-requests": "write"}
    runs = " ".join(s.get("run", "") for s in steps(workflow))
    assert "modelsync validate" in runs
    assert "--format github" in runs
    assert 'args+=(--policy "$POLICY")' in runs
    assert "modelsync diff" in runs
    assert "--format markdown" in runs


def test_the_diff_step_treats_changes_as_success_and_only_errors_as_failure() -> None:
    workflow = load(WORKFLOWS_DIR / "validate-clusters.yml")
    (diff,) = [s for s in steps(workflow) if s.get("id") == "diff"]
    script = diff["run"]
    # `modelsync diff` exits 1 when releases change: the step must not run under `set -e`.
    assert "set -uo pipefail" in script
    assert 'if [ "$code" -ge 2 ]' in script
    comment = [s for s in steps(workflow) if "github-script" in s.get("uses", "")]
    assert comment
    assert "updateComment" in comment[0]["with"]["script"]


def test_images_builds_the_controller_from_the_repository_root() -> None:
    workflow = load(WORKFLOWS_DIR / "images.yml")
    matrix = workflow["jobs"]["build"]["strategy"]["matrix"]["include"]
    controller = [m for m in matrix if m["image"] == "controller"]
    assert controller == [{"image": "controller", "context": ".", "file": "controller/Dockerfile"}]
