"""The kind e2e's checks of the Workspace itself: deployed, serving, then removed from Git.

Steps 7 and 8 of ``kind_e2e.py``. What counts as deployed is what Helm and Kubernetes say,
not what the controller reports about itself: the release's storage record (a Secret with
``status=deployed`` and modelsync's labels, docs/contracts.md section 5), a Ready pod on
the gpu worker holding the advertised GPU, and an answer from vLLM through the Service.
Requests are made from a curl pod inside the cluster, so Service DNS is part of the test.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from tests.e2e import layout
from tests.e2e.commands import Cluster, E2EError, wait_until

# Seconds.
RELEASE_DEPLOYED = 900
POD_READY = 1800  # the image is local; the weights are downloaded, then loaded on the CPU
CHAT_ANSWERED = 300
RELEASE_GONE = 300
REQUEST_POD = 360
#: Restarts after which the vLLM pod is taken to be failing rather than still loading.
MAX_RESTARTS = 2
#: Container states that no amount of waiting fixes.
FATAL_WAITING = {
    "ErrImageNeverPull",
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
}
#: Labels every release modelsync owns carries (docs/contracts.md section 5).
RELEASE_LABELS = {
    "modelsync.dev/managed-by": "modelsync",
    "modelsync.dev/cluster": layout.MODELSYNC_CLUSTER,
    "modelsync.dev/workspace": layout.WORKSPACE,
}


def condition(obj: dict[str, Any], kind: str) -> bool:
    conditions = obj.get("status", {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def release_records(cluster: Cluster) -> list[dict[str, Any]]:
    """Helm's storage Secrets of the Workspace's release, one per revision."""
    selector = f"owner=helm,name={layout.RELEASE}"
    found = cluster.get("secrets", "-n", layout.WORKLOAD_NAMESPACE, "-l", selector)
    return list(found["items"])


# -- 7. deploy ------------------------------------------------------------------------------


def wait_deployed(cluster: Cluster, gpu_node: str) -> None:
    def deployed() -> dict[str, Any] | None:
        records = release_records(cluster)
        return next(
            (r for r in records if r["metadata"]["labels"].get("status") == "deployed"), None
        )

    record = wait_until(
        f"Helm release {layout.WORKLOAD_NAMESPACE}/{layout.RELEASE} to be deployed "
        f"(the controller's first pass over {layout.WORKSPACE_FILE})",
        deployed,
        timeout=RELEASE_DEPLOYED,
    )
    labels = record["metadata"]["labels"]
    wrong = {k: labels.get(k) for k, v in RELEASE_LABELS.items() if labels.get(k) != v}
    if wrong:
        raise E2EError(f"release {layout.RELEASE} lacks modelsync's labels: {wrong}")
    print(f"    release {layout.RELEASE} revision {labels.get('version')}: deployed")
    pod = wait_until(
        f"the vLLM pod of {layout.RELEASE} to be Ready (weights downloaded, loaded on the CPU)",
        lambda: ready_pod(cluster),
        timeout=POD_READY,
        interval=10,
    )
    node = pod["spec"].get("nodeName")
    requests = pod["spec"]["containers"][0].get("resources", {}).get("requests", {})
    gpus = requests.get(layout.GPU_RESOURCE)
    if node != gpu_node or str(gpus) != str(layout.GPUS_PER_NODE):
        raise E2EError(
            f"the vLLM pod runs on {node} requesting {gpus} {layout.GPU_RESOURCE}; "
            f"expected {gpu_node} with {layout.GPUS_PER_NODE}"
        )
    print(f"    pod {pod['metadata']['name']} Ready on {node} with {gpus} {layout.GPU_RESOURCE}")
    print_status(cluster)


def ready_pod(cluster: Cluster) -> dict[str, Any] | None:
    """The first Ready pod of the release; fails fast on states waiting cannot fix."""
    selector = f"app.kubernetes.io/instance={layout.RELEASE}"
    pods = cluster.get("pods", "-n", layout.WORKLOAD_NAMESPACE, "-l", selector)["items"]
    for pod in pods:
        for state in pod.get("status", {}).get("containerStatuses") or []:
            waiting = state.get("state", {}).get("waiting") or {}
            restarts = int(state.get("restartCount", 0))
            if waiting.get("reason") in FATAL_WAITING or restarts > MAX_RESTARTS:
                reason = waiting.get("reason") or f"{restarts} restarts"
                raise E2EError(
                    f"the vLLM container of {pod['metadata']['name']} cannot start: {reason} "
                    f"{waiting.get('message', '')}".rstrip()
                )
        if condition(pod, "Ready"):
            return dict(pod)
    return None


def print_status(cluster: Cluster) -> None:
    """The controller's own view (/status), for the log; its shape is not asserted here."""
    try:
        status = json.loads(
            cluster.service_proxy(
                layout.CONTROLLER_NAMESPACE, f"{layout.CONTROLLER_SERVICE}:http", "/status"
            )
        )
        for workspace in status.get("workspaces", []):
            print(f"    /status: {json.dumps(workspace, sort_keys=True)[:300]}")
    except (E2EError, ValueError, AttributeError) as e:
        print(f"    note: the controller's /status could not be read: {e}")


def http(
    cluster: Cluster, prefix: str, url: str, *, body: Any = None, token: str = ""
) -> tuple[int, str]:
    """One request from a pod inside the cluster: (status, body); status 0 when curl failed."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    cluster.apply([layout.http_pod(name, url, body=body, token=token)])
    phase = ""
    try:
        deadline = time.monotonic() + REQUEST_POD
        while phase not in ("Succeeded", "Failed") and time.monotonic() < deadline:
            time.sleep(2)
            pod = cluster.get("pod", "-n", layout.TOOLS_NAMESPACE, name)
            phase = str(pod.get("status", {}).get("phase", ""))
        logs = cluster.kubectl("logs", "-n", layout.TOOLS_NAMESPACE, name, check=False)
    finally:
        cluster.kubectl(
            "delete", "pod", "-n", layout.TOOLS_NAMESPACE, name, "--wait=false", check=False
        )
    text, _, code = logs.rstrip("\n").rpartition("\n")
    if phase != "Succeeded" or not code.strip().isdigit():
        return 0, logs.strip() or f"the request pod ended in phase {phase or 'unknown'}"
    return int(code), text


def answer_of(text: str) -> str | None:
    """The assistant's message of an OpenAI chat completion, if the body holds one."""
    try:
        content = json.loads(text)["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) and content.strip() else None


def ask_model(cluster: Cluster) -> None:
    url = f"{layout.INFERENCE_URL}/v1/chat/completions"

    def answered() -> str | None:
        status, text = http(cluster, "chat", url, body=layout.chat_request())
        content = answer_of(text) if status == 200 else None
        if content is None:
            print(f"    not yet: {status} {text[:300]}")
        return content

    content = wait_until(f"POST {url} to answer", answered, timeout=CHAT_ANSWERED, interval=10)
    print(f"    {layout.SERVED_MODEL} says: {content.strip()!r}")


# -- 8. remove ------------------------------------------------------------------------------


def remove_workspace(cluster: Cluster, token: str) -> None:
    where = ("-n", layout.TOOLS_NAMESPACE, f"deploy/{layout.GIT_SERVER}", "-c", "git-daemon")
    commit = cluster.kubectl("exec", *where, "--", "sh", "-c", layout.remove_workspace_script())
    print(f"    pushed {commit.strip()}")
    url = f"{layout.WEBHOOK_URL}/webhook/generic"
    status, text = http(cluster, "webhook", url, token=token)
    if status != 202:
        raise E2EError(f"POST {url} answered {status} {text[:300]!r}; expected 202")
    print(f"    POST {url}: {status} {text.strip()}")

    def gone() -> bool | None:
        if release_records(cluster):
            return None
        selector = f"app.kubernetes.io/instance={layout.RELEASE}"
        kinds = "deployments,services,configmaps,pods"
        left = cluster.get(kinds, "-n", layout.WORKLOAD_NAMESPACE, "-l", selector)["items"]
        return True if not left else None

    wait_until(
        f"release {layout.RELEASE} and its Deployment, Service, ConfigMap and pods to be gone",
        gone,
        timeout=RELEASE_GONE,
    )
