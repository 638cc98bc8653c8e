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

from controller.adapters.bundled import load_bundle
from controller.core.documents import SourceFile
from controller.core.releases import desired_releases
from controller.core.validation import validate_files
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


QWEN = REPO_ROOT / "clusters" / "prod" / "qwen-coder-32b-burst.yaml"
GPU_RAG = """\
apiVersion: kaito.sh/v1alpha1
kind: RAGEngine
metadata: {name: code-rag, namespace: ml-inference}
spec:
  compute: {instanceType: Standard_NC80adis_H100_v5}
  embedding:
    local: {modelID: BAAI/bge-small-en-v1.5}
  storage: {persistentVolumeClaim: code-index}
  inferenceService:
    url: http://qwen-coder-32b.ml-inference.svc.cluster.local/v1/chat/completions
    contextWindowSize: 16384
"""


def test_what_the_controller_makes_of_a_rag_engine_on_a_gpu_pool_renders_there() -> None:
    # prod's h100-nvl pool is tainted (modelsync.dev/burst): a RAGEngine has no tolerations.
    # On a copy of prod without that taint, the engine goes to the pool's nodes with a GPU.
    prod = REPO_ROOT / "clusters" / "prod"
    cluster = (prod / "cluster.yaml").read_text()
    untainted = cluster.replace(
        '      taints:\n        - {key: modelsync.dev/burst, value: "true", effect: NoSchedule}\n',
        "",
    )
    assert untainted != cluster
    files = [
        SourceFile("clusters/prod/cluster.yaml", data=untainted.encode()),
        SourceFile(
            "clusters/prod/qwen.yaml", data=(prod / "qwen-coder-32b-burst.yaml").read_bytes()
        ),
        SourceFile("clusters/prod/code-rag.yaml", data=GPU_RAG.encode()),
    ]
    bundle = load_bundle()
    report = validate_files(files, schemas=bundle.schemas, catalog=bundle.catalog)
    assert [f for f in report.findings if f.is_error] == []
    versions = {"workspace-inference": "0.1.0", "workspace-tuning": "0.1.0", CHART: "0.1.0"}
    [release] = [r for r in desired_releases(report.clusters[0], versions) if r.chart == CHART]
    v = json.loads(json.dumps(release.values))
    chart(CHART).validate_schema(v)
    out = render(CHART, v, release=release.name, namespace=release.namespace)
    pod = rag_pod(out)
    assert pod["nodeSelector"] == {"modelsync.dev/pool": "h100-nvl"}
    assert container(pod, "rag")["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
        "tolerations"
    ]
    template = out.one("Deployment")["spec"]["template"]["metadata"]
    assert template["annotations"]["karpenter.sh/do-not-disrupt"] == "true"
    assert "PersistentVolumeClaim" not in out.kinds()  # the claim storage names
    config = configmap_text(out, "rag.yaml")
    assert 'inferenceModel: "qwen2.5-coder-32b-instruct"' in config
    assert 'embeddingDevice: "cuda"' in config
    assert "contextWindow: 16384" in config


def test_the_service_accepts_what_the_controller_renders_for_devs_rag_engine(
    tmp_path: Path,
) -> None:
    bundle = load_bundle()
    files = [
        SourceFile(str(path.relative_to(REPO_ROOT)), data=path.read_bytes())
        for path in sorted((REPO_ROOT / "clusters" / "dev").glob("*.yaml"))
    ]
    report = validate_files(files, schemas=bundle.schemas, catalog=bundle.catalog)
    versions = {"workspace-inference": "0.1.0", "workspace-tuning": "0.1.0", CHART: "0.1.0"}
    [release] = [r for r in desired_releases(report.clusters[0], versions) if r.chart == CHART]
    assert release.name == "docs-rag"
    out = render(CHART, json.loads(json.dumps(release.values)), release=release.name)
    path = tmp_path / "rag.yaml"
    path.write_text(configmap_text(out, "rag.yaml"), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "modelsync_runtime.rag.cli", "--config", str(path), "--check"],
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "presets" / "runtime")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout)
    assert config["embeddingModel"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert config["embeddingDevice"] == "cpu"
    assert (
        config["inferenceUrl"] == "http://phi-4-mini.ml-dev.svc.cluster.local/v1/chat/completions"
    )
    assert config["inferenceModel"] == "phi-4-mini-instruct"
    assert config["contextWindow"] == 8192
