"""What `make e2e` builds and applies, checked here where there is no Docker and no cluster.

The clusters repo it serves must validate and place the Workspace on the fake-GPU pool with
the CPU image; the controller chart must render with the e2e's values into a config the
controller accepts; the git daemon pod's scripts must really publish and change a
repository (run here with the real git); the controller image's build context must be what
its Dockerfile copies.
"""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.adapters.bundled import load_bundle
from controller.adapters.charts import ChartSource
from controller.core.chartpolicy import ChartPolicy
from controller.core.documents import SourceFile
from controller.core.releases import DesiredRelease, desired_release
from controller.core.validation import validate_files
from controller.engine.settings import load_settings
from tests.charts.rendering import render
from tests.e2e import layout
from tests.e2e.kind_e2e import Settings, controller_context
from tests.e2e.workload import answer_of


def e2e_release() -> DesiredRelease:
    bundle = load_bundle()
    files = [SourceFile(path, data=text.encode()) for path, text in layout.repo_files().items()]
    policy = ChartPolicy.from_config(layout.POLICY)
    report = validate_files(files, schemas=bundle.schemas, catalog=bundle.catalog, policy=policy)
    assert [f.message for f in report.findings if f.is_error] == []
    (cluster,) = report.clusters
    (result,) = cluster.workspaces
    assert cluster.cluster is not None
    assert result.path == layout.WORKSPACE_FILE
    return desired_release(result, cluster.cluster, ChartSource(bundle.charts_dir).versions())


def objects(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


def test_the_clusters_repo_holds_a_cluster_and_the_workspace_to_remove() -> None:
    assert sorted(layout.repo_files()) == [
        "clusters/kind/cluster.yaml",
        layout.WORKSPACE_FILE,
    ]


def test_the_workspace_becomes_one_gpu_release_of_the_cpu_image() -> None:
    release = e2e_release()
    values = release.values
    repository, tag = layout.split_image(layout.INFERENCE_IMAGE)
    assert (release.name, release.namespace) == (layout.RELEASE, layout.WORKLOAD_NAMESPACE)
    assert release.chart == "workspace-inference"
    assert values["image"] == {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}
    assert values["resources"]["gpus"] == layout.GPUS_PER_NODE
    assert values["pool"]["name"] == layout.GPU_POOL
    assert values["model"]["servedModelName"] == layout.SERVED_MODEL
    assert values["vllm"]["dtype"] == "float32"
    assert "--enforce-eager" in values["vllm"]["extraArgs"]


def test_the_rendered_server_schedules_only_onto_the_fake_gpu_worker() -> None:
    release = e2e_release()
    rendered = objects(ChartSource(load_bundle().charts_dir).render(release))
    (deployment,) = [o for o in rendered if o["kind"] == "Deployment"]
    (service,) = [o for o in rendered if o["kind"] == "Service"]
    spec = deployment["spec"]["template"]["spec"]
    (vllm,) = spec["containers"]
    taint = layout.GPU_TAINT
    assert spec["nodeSelector"] == {layout.POOL_LABEL: layout.GPU_POOL}
    assert any(
        t["key"] == taint["key"]
        and t["effect"] == taint["effect"]
        and (t["operator"] == "Exists" or t.get("value") == taint["value"])
        for t in spec["tolerations"]
    )
    requests = vllm["resources"]["requests"]
    assert requests[layout.GPU_RESOURCE] == layout.GPUS_PER_NODE
    # A 4-core, 16 GB GitHub runner holds the whole cluster.
    assert requests["memory"] == "3Gi"
    assert vllm["resources"]["limits"]["memory"] == "8Gi"
    assert vllm["image"] == layout.INFERENCE_IMAGE
    assert {"name": "VLLM_CPU_KVCACHE_SPACE", "value": "1"} in vllm["env"]
    assert service["metadata"]["name"] == layout.RELEASE
    # The driver's request pods (their own namespace) may reach vLLM, which no one else may.
    (policy,) = [o for o in rendered if o["kind"] == "NetworkPolicy"]
    (rule,) = policy["spec"]["ingress"]
    namespaces = [
        p["namespaceSelector"]["matchLabels"] for p in rule["from"] if "namespaceSelector" in p
    ]
    assert namespaces == [{"kubernetes.io/metadata.name": layout.TOOLS_NAMESPACE}]
    url = f"http://{layout.RELEASE}.{layout.WORKLOAD_NAMESPACE}.svc.cluster.local"
    assert url == layout.INFERENCE_URL


def test_the_controller_chart_renders_the_e2e_config_the_controller_accepts(
    tmp_path: Path,
) -> None:
    rendered = render(
        "modelsync",
        layout.controller_values(),
        release=layout.CONTROLLER_RELEASE,
        namespace=layout.CONTROLLER_NAMESPACE,
    )
    config = tmp_path / "config.yaml"
    config.write_text(rendered.one("ConfigMap")["data"]["config.yaml"], encoding="utf-8")
    settings = load_settings(config)
    assert (settings.cluster, settings.repo, settings.target) == (
        layout.MODELSYNC_CLUSTER,
        layout.GIT_URL,
        "helm",
    )
    assert (settings.branch, settings.path) == ("main", "clusters")
    assert settings.chart_policy == ChartPolicy.from_config(layout.POLICY)
    deployment = rendered.one("Deployment")
    assert deployment["metadata"]["name"] == layout.CONTROLLER_SERVICE
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == layout.CONTROLLER_IMAGE
    secrets = [v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v]
    assert secrets == [layout.WEBHOOK_SECRET]
    services = {s["metadata"]["name"]: s["spec"]["ports"][0] for s in rendered.all("Service")}
    status, webhook = services[layout.CONTROLLER_SERVICE], services[layout.WEBHOOK_SERVICE]
    assert (status["name"], status["port"]) == ("http", 8080)
    assert (webhook["name"], webhook["port"]) == ("webhook", 8081)
    assert layout.CONTROLLER_URL.endswith(":8080")
    assert layout.WEBHOOK_URL.endswith(":8081")
    roles = [r["metadata"]["namespace"] for r in rendered.all("Role")]
    assert layout.WORKLOAD_NAMESPACE in roles


def test_the_git_server_serves_what_the_controller_is_pointed_at() -> None:
    config_map, deployment, service = layout.git_server_manifests(layout.repo_files())
    spec = deployment["spec"]["template"]["spec"]
    items = spec["volumes"][0]["configMap"]["items"]
    assert sorted(i["path"] for i in items) == sorted(layout.repo_files())
    assert {i["key"] for i in items} == set(config_map["data"])
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", key) for key in config_map["data"])
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    port = service["spec"]["ports"][0]["port"]
    url = f"git://{name}.{namespace}.svc.cluster.local/clusters.git"
    assert url == layout.GIT_URL
    assert port == layout.GIT_PORT == 9418  # git:// URLs carry no port: the default one
    assert spec["containers"][0]["command"] == layout.git_daemon_command()


def tree(repository: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repository), "ls-tree", "-r", "--name-only", "main"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()


def test_git_daemon_serves_the_seeded_repository(served: str, tmp_path: Path) -> None:
    subprocess.run(["git", "clone", "-q", served, str(tmp_path / "clone")], check=True)
    for path, text in layout.repo_files().items():
        assert (tmp_path / "clone" / path).read_text(encoding="utf-8") == text


def test_the_removal_commit_reaches_the_served_repository(published: Path) -> None:
    bare = published / "git" / "clusters.git"
    assert layout.WORKSPACE_FILE in tree(bare)
    script = layout.remove_workspace_script(root=str(published))
    done = subprocess.run(["sh", "-c", script], check=True, capture_output=True, text=True)
    assert "e2e: remove qwen-cpu.yaml" in done.stdout
    assert tree(bare) == ["clusters/kind/cluster.yaml"]


def test_http_pods_send_the_request_and_print_the_status_last() -> None:
    pod = layout.http_pod("chat-1", "http://x/v1/chat/completions", body=layout.chat_request())
    command = pod["spec"]["containers"][0]["command"]
    assert command[0] == "curl"
    assert command[-1] == "http://x/v1/chat/completions"
    assert json.loads(command[command.index("--data") + 1])["model"] == layout.SERVED_MODEL
    assert command[command.index("--write-out") + 1] == "\n%{http_code}"
    webhook = layout.http_pod("hook-1", "http://x/webhook/generic", token="s3cret")
    args = webhook["spec"]["containers"][0]["command"]
    assert "Authorization: Bearer s3cret" in args
    assert args[args.index("-X") + 1] == "POST"


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ('{"choices": [{"message": {"role": "assistant", "content": "Hello!"}}]}', "Hello!"),
        ('{"choices": [{"message": {"content": "  "}}]}', None),
        ('{"object": "error", "message": "model not loaded"}', None),
        ("<html>502</html>", None),
    ],
)
def test_only_a_chat_completion_with_text_counts_as_an_answer(
    body: str, answer: str | None
) -> None:
    assert answer_of(body) == answer


def test_settings_come_from_the_environment() -> None:
    assert Settings.from_env({}) == Settings(
        cluster=layout.DEFAULT_KIND_CLUSTER,
        keep=False,
        reuse=False,
        vllm_cpu_image=layout.VLLM_CPU_IMAGE,
    )
    custom = Settings.from_env(
        {"KEEP": "1", "REUSE": "true", "KIND_CLUSTER_NAME": "mine", "E2E_VLLM_CPU_IMAGE": "x:1"}
    )
    assert custom == Settings(cluster="mine", keep=True, reuse=True, vllm_cpu_image="x:1")


def dockerfile_copies(dockerfile: Path) -> set[str]:
    """Sources of the COPY instructions that read the build context."""
    sources: set[str] = set()
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        words = line.split()
        if words[:1] == ["COPY"] and not any(w.startswith("--from") for w in words):
            sources.update(words[1:-1])
    return sources


def test_the_controller_build_context_is_what_its_dockerfile_copies(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert dockerfile_copies(layout.CONTROLLER_DOCKERFILE) == set(layout.CONTROLLER_CONTEXT)
    monkeypatch.setattr(layout, "WORK_DIR", tmp_path)
    context = controller_context()
    for name in layout.CONTROLLER_CONTEXT:
        assert (context / name).exists(), name
    assert (context / "controller" / "Dockerfile").is_file()
    assert not list(context.rglob("__pycache__"))


def test_the_controller_image_starts_python_under_one_name_as_a_non_root_user() -> None:
    text = layout.CONTROLLER_DOCKERFILE.read_text(encoding="utf-8")
    entrypoint = re.search(r"^ENTRYPOINT (.+)$", text, re.MULTILINE)
    assert entrypoint
    assert json.loads(entrypoint.group(1)) == ["python3.11", "-m", "controller", "run"]
    assert re.search(r"^USER 65532:65532$", text, re.MULTILINE)
    assert '"--config", "/etc/modelsync/config.yaml"' in text


def test_the_wheel_leaves_the_dockerfile_out() -> None:
    pyproject = tomllib.loads((layout.REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    wheel = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "controller/Dockerfile" in wheel["exclude"]


def test_make_runs_the_driver_as_a_module_so_its_imports_resolve() -> None:
    makefile = (layout.REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    assert re.search(r"^e2e: .*\n\t\$\(BIN\)/python -m tests\.e2e\.kind_e2e$", makefile, re.M)
