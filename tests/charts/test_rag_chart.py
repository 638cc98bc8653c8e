"""charts/workspace-rag: what the values become in the rendered RAG service.

The generic checks (lint, Kubernetes schemas, namespaces, strict values schema, README
table, packaging) run for this chart with the others in test_chart_repo.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import helm_python
import pytest

from tests.charts.rendering import (
    REPO_ROOT,
    Rendered,
    assert_locked_down,
    chart,
    configmap_file,
    configmap_text,
    container,
    env_of,
    mounts_of,
    pod_spec,
    render,
    scenario,
    volumes_of,
    with_values,
)

CHART = "workspace-rag"


def values(name: str = "default", **overrides: Any) -> dict[str, Any]:
    return with_values(scenario(CHART, name).values, **overrides)


def rendered(name: str = "default", **overrides: Any) -> Rendered:
    v = values(name, **overrides)
    return render(CHART, v, release=v["ragEngine"]["name"])


def rag_pod(out: Rendered) -> dict[str, Any]:
    return pod_spec(out.one("Deployment"))


def test_one_replica_owns_the_index_volume() -> None:
    deployment = rendered().one("Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = rendered().one("PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "ragengine-docs-index"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert claim["spec"]["resources"]["requests"]["storage"] == "5Gi"
    volume = volumes_of(rag_pod(rendered()))["index"]
    assert volume["persistentVolumeClaim"] == {"claimName": "ragengine-docs-index"}
    assert mounts_of(container(rag_pod(rendered()), "rag"))["/mnt/rag"]["name"] == "index"


def test_an_existing_claim_is_used_without_creating_one() -> None:
    out = rendered("existing-claim")
    assert "PersistentVolumeClaim" not in out.kinds()
    assert volumes_of(rag_pod(out))["index"]["persistentVolumeClaim"] == {"claimName": "code-index"}


def test_without_persistence_the_index_is_an_empty_dir() -> None:
    out = rendered("ephemeral")
    assert "PersistentVolumeClaim" not in out.kinds()
    assert volumes_of(rag_pod(out))["index"] == {"name": "index", "emptyDir": {}}
    assert "lost with the pod" in out.notes


def test_the_service_accepts_the_rendered_config(tmp_path: Path) -> None:
    # The real service (presets/runtime; --check needs PyYAML and pydantic only) validates
    # the file and prints what it would run with.
    path = tmp_path / "rag.yaml"
    path.write_text(configmap_text(rendered("existing-claim"), "rag.yaml"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "modelsync_runtime.rag.cli", "--config", str(path), "--check"],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "presets" / "runtime")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["embeddingModel"] == "/opt/models/all-MiniLM-L6-v2"
    assert config["inferenceUrl"] == "https://llm.example.com/v1"
    assert config["contextWindow"] == 32768
    # The index volume's folder, which the pod mounts.
    assert config["persistDir"] == "/mnt/rag/indexes"
    assert (config["host"], config["port"]) == ("0.0.0.0", 5000)


def test_the_config_file_is_mounted_and_its_changes_restart_the_pod() -> None:
    rag = container(rag_pod(rendered()), "rag")
    assert rag["command"] == ["modelsync-rag", "--config", "/etc/modelsync/rag.yaml"]
    assert mounts_of(rag)["/etc/modelsync/rag.yaml"]["name"] == "config"
    config = configmap_file(rendered(), "rag.yaml")
    assert config["inferenceModel"] == "phi-3.5-mini-instruct"
    before = rendered().one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    after = rendered(retrieval={"defaultTopK": 3}).one("Deployment")["spec"]["template"]
    assert after["metadata"]["annotations"]["checksum/config"] != before["checksum/config"]


def test_the_endpoint_token_comes_from_the_secret_by_reference() -> None:
    env = env_of(container(rag_pod(rendered("existing-claim")), "rag"))
    assert env["LLM_ACCESS_SECRET"]["valueFrom"] == {
        "secretKeyRef": {"name": "llm-token", "key": "LLM_ACCESS_SECRET"}
    }
    assert "LLM_ACCESS_SECRET" not in env_of(container(rag_pod(rendered()), "rag"))


@pytest.mark.parametrize("name", ["default", "existing-claim", "ephemeral"])
def test_the_pod_is_locked_down_and_writes_only_to_volumes(name: str) -> None:
    spec = rag_pod(rendered(name))
    assert spec["securityContext"]["runAsUser"] == 1000
    assert spec["securityContext"]["fsGroup"] == 1000  # the index volume is the pod's
    assert spec["automountServiceAccountToken"] is False
    assert_locked_down(spec)
    rag = container(spec, "rag")
    writable = {m["mountPath"] for m in rag["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/mnt/rag", "/mnt/models", "/tmp", "/home/modelsync"}
    env = env_of(rag)
    assert (env["HF_HOME"]["value"], env["HOME"]["value"]) == ("/mnt/models", "/home/modelsync")


def test_probes_wait_for_health() -> None:
    rag = container(rag_pod(rendered()), "rag")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert rag[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert rag["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]
    service = rendered().one("Service")
    assert service["spec"]["ports"][0]["port"] == 80
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_every_object_carries_the_modelsync_labels() -> None:
    out = rendered()
    for obj in [*out.objects, out.one("Deployment")["spec"]["template"]]:
        labels = obj["metadata"]["labels"]
        assert labels["modelsync.dev/ragengine"] == "ragengine-docs"
        assert labels["modelsync.dev/cluster"] == "dev"
        assert labels["app.kubernetes.io/component"] == "rag"


def test_defaults_render_a_retrieval_only_engine() -> None:
    out = render(CHART, None, release="rag")
    assert configmap_file(out, "rag.yaml")["inferenceUrl"] == ""
    assert "retrieval only" in out.notes
    image = container(rag_pod(out), "rag")["image"]
    assert image == f"ghcr.io/modelsync/rag:{chart(CHART).metadata['appVersion']}"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"inference": {"url": "workspace-phi:80"}}, "at '/inference/url'"),
        ({"retrieval": {"contextTokenRatio": 0.9}}, "at '/retrieval/contextTokenRatio'"),
        ({"persistence": {"size": "lots"}}, "at '/persistence/size'"),
        ({"embedding": {"model": ""}}, "at '/embedding/model'"),
        ({"replicaCount": 2}, "replicaCount"),
    ],
)
def test_bad_values_are_refused_naming_the_key(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(helm_python.HelmValuesError) as refused:
        chart(CHART).validate_schema(with_values(values(), **bad))
    assert message in str(refused.value)
