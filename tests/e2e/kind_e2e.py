"""``make e2e``: modelsync on a real Kubernetes cluster (kind), from Git to a vLLM answer and back.

    python -m tests.e2e.kind_e2e          (what `make e2e` runs, from the repository root)

1. preflight   docker (with a reachable engine), kind and kubectl are on PATH
2. cluster     create the kind cluster of tests/e2e/kind/cluster.yaml (an earlier one is
               deleted first; REUSE=1 keeps it and clears what an earlier run left in it)
3. gpu node    the gpu worker carries the pool label and taint; nvidia.com/gpu is advertised
               in its node status, as Kubernetes documents for extended resources
4. images      build the controller, the CPU inference and the tools images; kind-load them
5. git         serve tests/e2e/clusters as a Git repository from a git daemon pod
6. controller  install charts/modelsync with the Helm SDK, pointed at that repository
7. deploy      wait for the Workspace's Helm release, its pod Ready on the gpu worker, and an
               answer from /v1/chat/completions through its Service
8. remove      delete the Workspace in a commit, call the generic webhook, and wait until the
               release and its objects are gone
9. cleanup     delete the cluster, unless KEEP=1

Each wait says what it waits for and for how long. On a failure the nodes, pods, events,
Helm release records, the controller's /status and every pod's logs are printed and kept in
.modelsync/e2e/diagnostics/. Environment: KEEP=1, REUSE=1, KIND_CLUSTER_NAME (default
modelsync-e2e), E2E_VLLM_CPU_IMAGE (default vllm/vllm-openai-cpu:v0.32.0).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import helm_python as helm

from tests.e2e import layout
from tests.e2e.commands import Cluster, E2EError, diagnostics, kind, minutes, run, wait_until
from tests.e2e.workload import ask_model, condition, remove_workspace, wait_deployed

# Seconds. Generous: a CI runner has a few slow cores, and images are large.
NODES_READY = 300
GPU_ADVERTISED = 120
GIT_READY = 180
CONTROLLER_READY = 300


@dataclass(frozen=True)
class Settings:
    cluster: str
    keep: bool
    reuse: bool
    vllm_cpu_image: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def flag(name: str) -> bool:
            return env.get(name, "").strip().lower() in ("1", "true", "yes")

        return cls(
            cluster=env.get("KIND_CLUSTER_NAME") or layout.DEFAULT_KIND_CLUSTER,
            keep=flag("KEEP"),
            reuse=flag("REUSE"),
            vllm_cpu_image=env.get("E2E_VLLM_CPU_IMAGE") or layout.VLLM_CPU_IMAGE,
        )


def step(number: int, title: str) -> None:
    print(f"\n==> [{number}/9] {title}", flush=True)


# -- 1. preflight ---------------------------------------------------------------------------


def preflight() -> tuple[list[str], str]:
    """(what is missing, the Docker engine's version)."""
    tools = ("docker", "kind", "kubectl")
    problems = [f"{tool} is not on PATH" for tool in tools if shutil.which(tool) is None]
    engine = ""
    if shutil.which("docker") is not None:
        try:
            engine = run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=30).strip()
        except E2EError:
            problems.append("the Docker engine is not reachable (`docker info` failed)")
    return problems, engine


# -- 2. cluster -----------------------------------------------------------------------------


def prepare_cluster(cluster: Cluster, settings: Settings) -> None:
    existing = kind("get", "clusters").split()
    kubeconfig = ("--kubeconfig", str(cluster.kubeconfig))
    if cluster.name in existing and settings.reuse:
        print(f"    reusing kind cluster {cluster.name} (REUSE=1)")
        kind("export", "kubeconfig", "--name", cluster.name, *kubeconfig)
        clear_previous_run(cluster)
    else:
        if cluster.name in existing:
            print(f"    deleting kind cluster {cluster.name} left by an earlier run")
            kind("delete", "cluster", "--name", cluster.name, *kubeconfig, stream=True)
        cluster.kubeconfig.unlink(missing_ok=True)
        config = ("--config", str(layout.KIND_CONFIG))
        kind(
            "create",
            "cluster",
            "--name",
            cluster.name,
            *config,
            *kubeconfig,
            "--wait",
            "5m",
            stream=True,
        )
    wait_until("all 3 nodes to be Ready", lambda: nodes_ready(cluster), timeout=NODES_READY)


def nodes_ready(cluster: Cluster) -> bool | None:
    nodes = cluster.get("nodes")["items"]
    ready = [n for n in nodes if condition(n, "Ready")]
    return True if len(nodes) == 3 and len(ready) == 3 else None


def clear_previous_run(cluster: Cluster) -> None:
    with helm.Config(
        kubeconfig_path=cluster.kubeconfig, namespace=layout.CONTROLLER_NAMESPACE
    ) as config:
        config.uninstall(layout.CONTROLLER_RELEASE, ignore_not_found=True, timeout=120)
    namespaces = (layout.WORKLOAD_NAMESPACE, layout.CONTROLLER_NAMESPACE, layout.TOOLS_NAMESPACE)
    print(f"    deleting namespaces {', '.join(namespaces)} (waits for their objects to go)")
    cluster.kubectl(
        "delete",
        "namespace",
        *namespaces,
        "--ignore-not-found",
        "--wait=true",
        "--timeout=5m",
        timeout=400,
    )


# -- 3. gpu node ----------------------------------------------------------------------------


def prepare_gpu_node(cluster: Cluster) -> str:
    selector = f"{layout.POOL_LABEL}={layout.GPU_POOL}"
    nodes = cluster.get("nodes", "-l", selector)["items"]
    if len(nodes) != 1:
        raise E2EError(f"expected one node labelled {selector}, found {len(nodes)}")
    node = nodes[0]
    name = str(node["metadata"]["name"])
    taint = layout.GPU_TAINT
    if not any(
        t.get("key") == taint["key"] and t.get("effect") == taint["effect"]
        for t in node["spec"].get("taints") or []
    ):
        print("    note: the JoinConfiguration taint is missing; applying it with kubectl")
        cluster.kubectl(
            "taint",
            "node",
            name,
            f"{taint['key']}={taint['value']}:{taint['effect']}",
            "--overwrite",
        )
    print(f"    {name}: {selector}, taint {taint['key']}={taint['value']}:{taint['effect']}")
    patch = [
        {
            "op": "add",
            "path": "/status/capacity/" + layout.GPU_RESOURCE.replace("/", "~1"),
            "value": str(layout.GPUS_PER_NODE),
        }
    ]
    cluster.kubectl(
        "patch", "node", name, "--subresource=status", "--type=json", "-p", json.dumps(patch)
    )

    def advertised() -> bool | None:
        allocatable = cluster.get("node", name)["status"].get("allocatable", {})
        return True if allocatable.get(layout.GPU_RESOURCE) == str(layout.GPUS_PER_NODE) else None

    wait_until(
        f"{name} to report {layout.GPUS_PER_NODE} allocatable {layout.GPU_RESOURCE}",
        advertised,
        timeout=GPU_ADVERTISED,
        interval=2,
    )
    return name


# -- 4. images ------------------------------------------------------------------------------


def controller_context() -> Path:
    """Exactly what controller/Dockerfile copies: no virtualenvs or caches of a work tree."""
    context = layout.WORK_DIR / "controller-context"
    shutil.rmtree(context, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".*_cache")
    for name in layout.CONTROLLER_CONTEXT:
        source, target = layout.REPO_ROOT / name, context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    return context


def build_images(cluster: Cluster, settings: Settings, gpu_node: str) -> None:
    tools_context = layout.WORK_DIR / "tools-context"
    shutil.rmtree(tools_context, ignore_errors=True)
    tools_context.mkdir(parents=True)
    shutil.copy2(layout.TOOLS_DOCKERFILE, tools_context / "Dockerfile")
    builds = [
        (layout.CONTROLLER_IMAGE, layout.CONTROLLER_DOCKERFILE, controller_context(), []),
        (
            layout.INFERENCE_IMAGE,
            layout.INFERENCE_DOCKERFILE,
            layout.INFERENCE_DOCKERFILE.parent,
            ["--build-arg", f"VLLM_IMAGE={settings.vllm_cpu_image}"],
        ),
        (layout.TOOLS_IMAGE, tools_context / "Dockerfile", tools_context, []),
    ]
    for image, dockerfile, context, extra in builds:
        print(f"    building {image}")
        run(
            ["docker", "build", "-f", str(dockerfile), "-t", image, *extra, str(context)],
            stream=True,
            timeout=3600,
        )
    # The inference image is large: only the node that runs it gets a copy.
    loads = [
        ([layout.CONTROLLER_IMAGE, layout.TOOLS_IMAGE], []),
        ([layout.INFERENCE_IMAGE], ["--nodes", gpu_node]),
    ]
    for images, nodes in loads:
        kind("load", "docker-image", *images, "--name", cluster.name, *nodes, stream=True)


# -- 5. git ---------------------------------------------------------------------------------


def serve_repository(cluster: Cluster) -> None:
    files = layout.repo_files()
    cluster.apply([layout.namespace(layout.TOOLS_NAMESPACE)])
    cluster.apply(layout.git_server_manifests(files))
    print(f"    {len(files)} files: {', '.join(sorted(files))}")
    wait_until(
        f"the git daemon at {layout.GIT_URL}",
        lambda: available(cluster, layout.TOOLS_NAMESPACE, layout.GIT_SERVER),
        timeout=GIT_READY,
        interval=2,
    )


def available(cluster: Cluster, namespace: str, deployment: str) -> bool | None:
    found = cluster.get("deployments", "-n", namespace, "--ignore-not-found")
    items = [d for d in found.get("items", []) if d["metadata"]["name"] == deployment]
    return True if items and condition(items[0], "Available") else None


# -- 6. controller --------------------------------------------------------------------------


def install_controller(cluster: Cluster, token: str) -> None:
    cluster.apply(
        [
            layout.namespace(layout.WORKLOAD_NAMESPACE),
            layout.namespace(layout.CONTROLLER_NAMESPACE),
            layout.webhook_secret(token),
        ]
    )
    values = layout.controller_values()
    print(
        f"    helm install {layout.CONTROLLER_RELEASE} charts/modelsync: cluster "
        f"{layout.MODELSYNC_CLUSTER}, repo {layout.GIT_URL}, target helm, "
        f"managedNamespaces [{layout.WORKLOAD_NAMESPACE}]"
    )
    try:
        with helm.Config(
            kubeconfig_path=cluster.kubeconfig, namespace=layout.CONTROLLER_NAMESPACE
        ) as config:
            release = config.install(
                layout.CONTROLLER_CHART,
                layout.CONTROLLER_RELEASE,
                values,
                namespace=layout.CONTROLLER_NAMESPACE,
                timeout=120,
            )
    except helm.HelmError as e:
        raise E2EError(f"helm install of charts/modelsync failed: {e}") from e
    print(f"    release {release['name']} revision {release['revision']}: {release['status']}")
    wait_until(
        "the controller Deployment to be Available",
        lambda: available(cluster, layout.CONTROLLER_NAMESPACE, layout.CONTROLLER_SERVICE),
        timeout=CONTROLLER_READY,
    )


# -- main -----------------------------------------------------------------------------------


def main() -> int:
    settings = Settings.from_env(os.environ)
    problems, engine = preflight()
    if problems:
        print(
            f"kind_e2e: cannot run here: {'; '.join(problems)}. `make e2e` needs Docker, kind "
            "and kubectl (tests/e2e/README.md).",
            file=sys.stderr,
        )
        return 2
    step(1, f"preflight: Docker engine {engine}, {kind('version').strip()}")
    started = time.monotonic()
    layout.WORK_DIR.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(settings.cluster, layout.WORK_DIR / "kubeconfig")
    ok = False
    try:
        step(2, f"kind cluster {settings.cluster}")
        prepare_cluster(cluster, settings)
        step(3, "the gpu worker: label, taint, advertised nvidia.com/gpu")
        gpu_node = prepare_gpu_node(cluster)
        step(4, "images: controller, CPU inference, tools")
        build_images(cluster, settings, gpu_node)
        step(5, "the clusters repo, served by a git daemon pod")
        serve_repository(cluster)
        step(6, "the controller (charts/modelsync, Helm SDK)")
        token = secrets.token_hex(16)
        install_controller(cluster, token)
        step(7, f"the Workspace {layout.WORKSPACE}: release, pod, chat completion")
        wait_deployed(cluster, gpu_node)
        ask_model(cluster)
        step(8, f"remove {layout.WORKSPACE_FILE} from Git")
        remove_workspace(cluster, token)
        ok = True
    except (E2EError, helm.HelmError) as e:
        print(f"\nkind_e2e: FAILED: {e}", file=sys.stderr, flush=True)
    except Exception:  # a bug in this driver: still show the cluster's state
        traceback.print_exc()
    finally:
        if not ok and cluster.kubeconfig.is_file():
            print(diagnostics(cluster, layout.WORK_DIR / "diagnostics"), flush=True)
        step(9, "cleanup")
        if cluster.name not in kind("get", "clusters", check=False).split():
            print("    no cluster to delete")
        elif settings.keep:
            print(
                f"    KEEP=1: cluster {cluster.name} kept; "
                f"kubectl --kubeconfig {cluster.kubeconfig} get pods -A"
            )
        else:
            kind("delete", "cluster", "--name", cluster.name, check=False, stream=True)
    verdict = "passed" if ok else "failed"
    print(f"\nkind e2e {verdict} in {minutes(time.monotonic() - started)}", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
