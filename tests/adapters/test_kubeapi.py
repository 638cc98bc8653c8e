"""The emulated Kubernetes API server, exercised by the real clients modelsync uses.

Helm releases go through the real Helm v4 SDK (helm_python, Go code over ctypes) and
cluster objects through the official `kubernetes` client, both against `kube_api` on
loopback; nothing is patched. What these tests pin down about Helm is written up in
docs/helm-sdk-notes.md.
"""

from __future__ import annotations

import base64
import datetime
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes
import pytest
import requests
import urllib3
from kubernetes.client import (
    ApiException,
    AppsV1Api,
    BatchV1Api,
    CoordinationV1Api,
    CoreV1Api,
    CoreV1Event,
    EventsV1Api,
    EventsV1Event,
    V1Lease,
    V1LeaseSpec,
    V1Node,
    V1NodeStatus,
    V1ObjectMeta,
    V1ObjectReference,
)

from tests.support import kubeapi_semantics as sem
from tests.support.kubeapi import KubeApi

RELEASE = "demo"
MANAGED = {"modelsync.dev/managed-by": "modelsync", "modelsync.dev/cluster": "dev"}

CHART_FILES = {
    "Chart.yaml": "apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: '1.0'\n",
    "values.yaml": "replicas: 1\nmessage: hello\nextra: ''\n",
    "templates/configmap.yaml": """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  message: {{ .Values.message | quote }}
  {{- if .Values.extra }}
  extra: {{ .Values.extra | quote }}
  {{- end }}
""",
    "templates/service.yaml": """\
apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    app: {{ .Release.Name }}
  ports:
    - name: http
      port: 80
      targetPort: 8000
""",
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}
    spec:
      containers:
        - name: server
          image: vllm/vllm-openai:v0.9.0
          ports:
            - containerPort: 8000
""",
}


@pytest.fixture
def chart(tmp_path: Path) -> Path:
    root = tmp_path / "chart"
    for name, text in CHART_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def cfg(kube_api: KubeApi) -> Iterator[helm.Config]:
    with helm.Config(kubeconfig_path=kube_api.kubeconfig_path, namespace="default") as config:
        yield config


@pytest.fixture
def client(kube_api: KubeApi) -> Iterator[kubernetes.client.ApiClient]:
    # kubernetes.config (kubeconfig loading) is untyped; Configuration is not. The kubeconfig
    # itself is what Helm reads in the tests above.
    with kubernetes.client.ApiClient(kubernetes.client.Configuration(host=kube_api.url)) as api:
        yield api


def in_background(wait: Callable[[], object], then: Callable[[], object]) -> threading.Thread:
    """Do `then` on a thread once `wait` returns: a controller reacting while Helm blocks."""

    def run() -> None:
        wait()
        then()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def release_secrets(kube_api: KubeApi) -> dict[str, dict[str, str]]:
    """Helm's release records in the emulator: secret name -> its labels."""
    return {
        s["metadata"]["name"]: s["metadata"]["labels"]
        for s in kube_api.objects("v1/secrets", "default")
        if s.get("type") == "helm.sh/release.v1"
    }


# --- Helm release lifecycle, real SDK ---------------------------------------


def test_install_creates_the_objects_and_the_release_record(
    kube_api: KubeApi, cfg: helm.Config, chart: Path
) -> None:
    release = cfg.install(chart, RELEASE, {"message": "v1"}, labels=MANAGED)

    assert {k: release[k] for k in ("name", "namespace", "revision", "status")} == {
        "name": RELEASE,
        "namespace": "default",
        "revision": 1,
        "status": "deployed",
    }
    assert release["labels"] == MANAGED
    assert "kind: Deployment" in release["manifest"]
    deployment = kube_api.get("deployments", RELEASE)
    assert deployment is not None
    assert deployment["metadata"]["annotations"]["meta.helm.sh/release-name"] == RELEASE
    assert deployment["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    assert deployment["metadata"]["generation"] == 1
    assert deployment["metadata"]["uid"]
    assert kube_api.get("services", RELEASE) is not None
    config = kube_api.get("configmaps", f"{RELEASE}-config")
    assert config is not None
    assert config["data"] == {"message": "v1"}
    # Helm stores the release in a Secret (written in protobuf by client-go's typed client).
    record = release_secrets(kube_api)["sh.helm.release.v1.demo.v1"]
    assert record.pop("modifiedAt").isdigit()  # set when Helm marks the record deployed
    assert record == {
        **MANAGED,
        "name": RELEASE,
        "owner": "helm",
        "status": "deployed",
        "version": "1",
    }
    # Helm v4 applies the chart's objects with server-side apply.
    applies = [r for r in kube_api.requests() if r.method == "PATCH"]
    assert {r.content_type for r in applies} == {"application/apply-patch+yaml"}
    assert all("fieldManager=" in r.query and "force=false" in r.query for r in applies)


def test_list_returns_summaries_with_custom_and_system_labels(
    cfg: helm.Config, chart: Path
) -> None:
    cfg.install(chart, RELEASE, {}, labels=MANAGED)
    cfg.install(chart, "other", {}, labels={"team": "research"})

    releases = {r["name"]: r for r in cfg.list()}

    assert set(releases) == {RELEASE, "other"}
    summary = releases[RELEASE]
    assert "manifest" not in summary
    assert set(summary) == {
        "name", "namespace", "revision", "status", "deployed_at", "chart_name", "chart_version",
        "app_version", "labels",
    }  # fmt: skip
    # The labels come back merged with Helm's own storage labels; filter on them in Python
    # (helm_python's list() has no label selector, only a regular expression on names).
    assert summary["labels"].items() >= {**MANAGED, "owner": "helm", "status": "deployed"}.items()
    assert [r["name"] for r in cfg.list(name_filter="^oth")] == ["other"]


def test_status_includes_the_manifest(cfg: helm.Config, chart: Path) -> None:
    cfg.install(chart, RELEASE, {"message": "v1"})

    status = cfg.status(RELEASE)

    assert status["revision"] == 1
    assert status["status"] == "deployed"
    assert 'message: "v1"' in status["manifest"]


def test_upgrade_history_values_rollback_and_uninstall(
    kube_api: KubeApi, cfg: helm.Config, chart: Path
) -> None:
    cfg.install(chart, RELEASE, {"message": "v1", "extra": "x"}, labels=MANAGED)

    upgraded = cfg.upgrade(chart, RELEASE, {"message": "v2", "replicas": 2}, labels=MANAGED)

    assert upgraded["revision"] == 2
    config = kube_api.get("configmaps", f"{RELEASE}-config")
    assert config is not None
    # Server-side apply drops what the same manager applied before and no longer applies.
    assert config["data"] == {"message": "v2"}
    deployment = kube_api.get("deployments", RELEASE)
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["generation"] == 2
    assert [(h["revision"], h["status"]) for h in cfg.history(RELEASE)] == [
        (1, "superseded"),
        (2, "deployed"),
    ]
    assert cfg.get_values(RELEASE) == {"message": "v2", "replicas": 2}
    assert cfg.get_values(RELEASE, revision=1) == {"message": "v1", "extra": "x"}

    cfg.rollback(RELEASE, version=1)

    assert [(h["revision"], h["status"]) for h in cfg.history(RELEASE)] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]
    config = kube_api.get("configmaps", f"{RELEASE}-config")
    assert config is not None
    assert config["data"] == {"message": "v1", "extra": "x"}
    assert len(kube_api.history("configmaps", f"{RELEASE}-config")) == 3

    uninstalled = cfg.uninstall(RELEASE)

    assert uninstalled["release"]["status"] == "uninstalled"
    assert kube_api.objects("deployments") == []
    assert kube_api.objects("services") == []
    assert kube_api.objects("configmaps") == []
    assert release_secrets(kube_api) == {}
    assert cfg.list(all_states=True) == []


def test_missing_releases_raise_not_found_or_release_errors(cfg: helm.Config, chart: Path) -> None:
    with pytest.raises(helm.HelmNotFoundError, match="release: not found"):
        cfg.status("absent")
    with pytest.raises(helm.HelmNotFoundError):
        cfg.uninstall("absent")
    with pytest.raises(helm.HelmReleaseError, match="has no deployed releases"):
        cfg.upgrade(chart, "absent", {})
    cfg.install(chart, RELEASE, {})
    with pytest.raises(helm.HelmReleaseError, match="cannot reuse a name that is still in use"):
        cfg.install(chart, RELEASE, {})


def test_wait_succeeds_once_the_workloads_report_ready(
    kube_api: KubeApi, cfg: helm.Config, chart: Path
) -> None:
    kube_api.auto_ready = True
    assert cfg.install(chart, RELEASE, {}, wait="watcher", timeout=10)["status"] == "deployed"
    watches = [r for r in kube_api.requests() if "watch=true" in r.query]
    assert {r.path.rsplit("/", 1)[-1] for r in watches} == {"configmaps", "services", "deployments"}

    kube_api.auto_ready = False
    controller = in_background(
        lambda: kube_api.wait_for_request("PATCH", r"/deployments/late$"),
        lambda: kube_api.set_ready("deployments", "late"),
    )
    try:
        assert cfg.install(chart, "late", {}, wait="watcher", timeout=10)["status"] == "deployed"
    finally:
        controller.join()


def test_wait_times_out_as_a_cancelled_error_and_a_failed_release(
    cfg: helm.Config, chart: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(helm.HelmCancelledError, match=r"not ready.*\n?.*context deadline exceeded"):
        cfg.install(chart, RELEASE, {}, wait="watcher", timeout=1)
    assert 1 <= time.monotonic() - started < 5
    assert [(r["name"], r["status"]) for r in cfg.list(all_states=True)] == [(RELEASE, "failed")]


# --- Faults against Helm ------------------------------------------------------


def test_a_failing_release_storage_list_raises_a_release_error(
    kube_api: KubeApi, cfg: helm.Config
) -> None:
    kube_api.fail("GET", r"/namespaces/default/secrets$", 500)

    with pytest.raises(
        helm.HelmReleaseError, match="list: failed to list: injected fault"
    ) as caught:
        cfg.list()

    assert caught.value.code == helm.ErrorCode.RELEASE
    assert cfg.list() == []  # the fault applied once


def test_a_failing_version_probe_raises_a_kube_error(kube_api: KubeApi, cfg: helm.Config) -> None:
    kube_api.fail("GET", r"^/version$", 503)

    with pytest.raises(helm.HelmKubeError, match="kubernetes cluster unreachable"):
        cfg.list()


def test_client_go_retries_answers_that_carry_retry_after(
    kube_api: KubeApi, cfg: helm.Config
) -> None:
    kube_api.fail("GET", r"/secrets$", 503, times=2, retry_after=0)

    assert cfg.list() == []

    lists = [r for r in kube_api.requests() if r.path.endswith("/secrets")]
    assert len(lists) == 3


def test_a_failed_apply_leaves_a_failed_release(
    kube_api: KubeApi, cfg: helm.Config, chart: Path
) -> None:
    kube_api.fail("PATCH", r"/deployments/demo$", 500)

    with pytest.raises(helm.HelmReleaseError, match="server-side apply failed"):
        cfg.install(chart, RELEASE, {})

    assert [(r["name"], r["status"]) for r in cfg.list(all_states=True)] == [(RELEASE, "failed")]


def test_cancelling_the_context_interrupts_a_slow_apply(
    kube_api: KubeApi, cfg: helm.Config, chart: Path
) -> None:
    kube_api.delay("PATCH", r"/deployments/", 5.0)
    context = helm.HelmContext()
    canceller = in_background(
        lambda: kube_api.wait_for_request("PATCH", r"/deployments/"), context.cancel
    )
    started = time.monotonic()
    try:
        with pytest.raises(helm.HelmCancelledError, match="context canceled"):
            cfg.install(chart, RELEASE, {}, context=context)
    finally:
        canceller.join()
        context.close()
    assert time.monotonic() - started < 4  # not the 5 s the API server holds the request


def test_the_helm_timeout_does_not_bound_single_api_calls(
    kube_api: KubeApi, cfg: helm.Config, chart: Path
) -> None:
    # timeout= bounds waiting for readiness; a slow API server is waited for regardless.
    kube_api.delay("POST", r"/secrets$", 1.5)
    started = time.monotonic()

    assert cfg.install(chart, RELEASE, {}, timeout=1)["status"] == "deployed"

    assert time.monotonic() - started >= 1.5


# --- The kubernetes client ----------------------------------------------------
# kubernetes>=35 models are typed pydantic classes with optional fields everywhere;
# the tests read them through to_dict() (snake_case keys).


def names(items: list[dict[str, Any]]) -> list[str]:
    return [item["metadata"]["name"] for item in items]


def test_nodes_with_gpu_capacity(kube_api: KubeApi, client: kubernetes.client.ApiClient) -> None:
    core = CoreV1Api(client)
    kube_api.add_node("gpu-a100-0", {"kaito.sh/pool": "a100"}, gpus=2)
    kube_api.add_node("cpu-0")
    gpus = {"nvidia.com/gpu": "2"}
    labels = {"kaito.sh/pool": "a100"}
    core.create_node(
        V1Node(
            metadata=V1ObjectMeta(name="gpu-a100-1", labels=labels),
            status=V1NodeStatus(capacity=gpus, allocatable=gpus),
        )
    )

    pool = core.list_node(label_selector="kaito.sh/pool=a100").to_dict()["items"]

    assert names(pool) == ["gpu-a100-0", "gpu-a100-1"]
    assert [n["status"]["allocatable"]["nvidia.com/gpu"] for n in pool] == ["2", "2"]
    assert names(core.list_node(label_selector="!kaito.sh/pool").to_dict()["items"]) == ["cpu-0"]
    patch = {"metadata": {"labels": {"kaito.sh/pool": "cpu"}}}
    patched = core.patch_node("cpu-0", patch).to_dict()["metadata"]
    assert patched["labels"]["kaito.sh/pool"] == "cpu"
    assert int(patched["resource_version"]) > 0


def test_leases_use_optimistic_concurrency(
    kube_api: KubeApi, client: kubernetes.client.ApiClient
) -> None:
    leases = CoordinationV1Api(client)
    now = datetime.datetime.now(datetime.UTC)
    spec = V1LeaseSpec(holder_identity="controller-a", lease_duration_seconds=15, renew_time=now)
    lease = V1Lease(metadata=V1ObjectMeta(name="modelsync"), spec=spec)
    created = leases.create_namespaced_lease("default", lease)
    stale = leases.read_namespaced_lease("modelsync", "default")

    spec.renew_time = now + datetime.timedelta(seconds=5)
    renewed = leases.replace_namespaced_lease(
        "modelsync", "default", created.model_copy(update={"spec": spec})
    )
    version = renewed.to_dict()["metadata"]["resource_version"]
    assert int(version) > int(created.to_dict()["metadata"]["resource_version"])

    takeover = V1LeaseSpec(holder_identity="controller-b", lease_duration_seconds=15)
    with pytest.raises(ApiException) as conflict:
        leases.replace_namespaced_lease(
            "modelsync", "default", stale.model_copy(update={"spec": takeover})
        )
    assert conflict.value.status == 409
    assert json.loads(conflict.value.body or "{}")["reason"] == "Conflict"
    with pytest.raises(ApiException) as exists:
        leases.create_namespaced_lease("default", lease)
    assert json.loads(exists.value.body or "{}")["reason"] == "AlreadyExists"
    stale_version = stale.to_dict()["metadata"]["resource_version"]
    stale_patch = {"metadata": {"resourceVersion": stale_version}, "spec": {"holderIdentity": "b"}}
    with pytest.raises(ApiException) as patch_conflict:
        leases.patch_namespaced_lease("modelsync", "default", stale_patch)
    assert patch_conflict.value.status == 409
    stored = kube_api.get("leases", "modelsync")
    assert stored is not None
    assert stored["spec"]["holderIdentity"] == "controller-a"


def test_core_and_events_k8s_io_events(
    kube_api: KubeApi, client: kubernetes.client.ApiClient
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    workspace = V1ObjectReference(
        api_version="kaito.sh/v1beta1", kind="Workspace", name="phi", namespace="default"
    )
    core_event = CoreV1Api(client).create_namespaced_event(
        "default",
        CoreV1Event(
            metadata=V1ObjectMeta(generate_name="phi."),
            involved_object=workspace,
            reason="InstallSucceeded",
            message="installed demo revision 1",
            type="Normal",
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        ),
    )
    EventsV1Api(client).create_namespaced_event(
        "default",
        EventsV1Event(
            metadata=V1ObjectMeta(name="phi.drift"),
            event_time=now,
            reason="DriftDetected",
            note="replicas changed outside Git",
            type="Warning",
            action="Reconcile",
            reporting_controller="modelsync.dev/controller",
            reporting_instance="modelsync-0",
            regarding=workspace,
        ),
    )

    assert core_event.to_dict()["metadata"]["name"].startswith("phi.")
    about_phi = CoreV1Api(client).list_namespaced_event(
        "default", field_selector="involvedObject.name=phi"
    )
    assert [e["reason"] for e in about_phi.to_dict()["items"]] == ["InstallSucceeded"]
    assert [e["reason"] for e in kube_api.objects("events.k8s.io/v1/events")] == ["DriftDetected"]


def obj(api_version: str, kind: str, name: str, **fields: Any) -> dict[str, Any]:
    """A manifest for seeding the emulator: metadata fields go in `metadata`."""
    metadata = {"name": name, **fields.pop("metadata", {})}
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, **fields}


def test_reading_workloads_seeded_by_the_test(
    kube_api: KubeApi, client: kubernetes.client.ApiClient
) -> None:
    labels = {"app": "phi"}
    pod_spec = {"containers": [{"name": "server", "image": "vllm"}], "restartPolicy": "Never"}
    template = {"metadata": {"labels": labels}, "spec": pod_spec}
    selector = {"matchLabels": labels}
    spec = {"replicas": 1, "selector": selector, "template": template}
    kube_api.put(obj("apps/v1", "Deployment", "phi", metadata={"labels": labels}, spec=spec))
    kube_api.set_ready("deployments", "phi")
    pod_status = {"phase": "Running"}
    kube_api.put(
        obj("v1", "Pod", "phi-0", metadata={"labels": labels}, spec=pod_spec, status=pod_status)
    )
    kube_api.put(obj("batch/v1", "Job", "tune", spec={"template": {"spec": pod_spec}}))
    kube_api.set_ready("jobs", "tune")
    kube_api.put(obj("v1", "Service", "phi", spec={"ports": [{"port": 80}]}))
    kube_api.put(obj("v1", "ConfigMap", "phi", data={"k": "v"}))
    kube_api.put(obj("v1", "Secret", "phi", stringData={"token": "s3"}))

    core, apps = CoreV1Api(client), AppsV1Api(client)
    deployment = apps.read_namespaced_deployment("phi", "default").to_dict()
    assert deployment["status"]["ready_replicas"] == 1
    assert deployment["status"]["observed_generation"] == deployment["metadata"]["generation"]
    pods = core.list_namespaced_pod("default", label_selector="app=phi").to_dict()["items"]
    assert names(pods) == ["phi-0"]
    pending = core.list_namespaced_pod("default", field_selector="status.phase=Pending")
    assert pending.to_dict()["items"] == []
    job = BatchV1Api(client).read_namespaced_job("tune", "default").to_dict()
    assert {c["type"] for c in job["status"]["conditions"]} >= {"Complete"}
    service = core.read_namespaced_service("phi", "default").to_dict()
    assert service["spec"]["ports"][0]["port"] == 80
    assert core.read_namespaced_config_map("phi", "default").to_dict()["data"] == {"k": "v"}
    secret = core.read_namespaced_secret("phi", "default").to_dict()
    assert base64.b64decode(secret["data"]["token"]) == b"s3"
    with pytest.raises(ApiException) as missing:
        apps.read_namespaced_deployment("absent", "default")
    assert missing.value.status == 404


def test_watch_resumes_after_a_listed_resource_version(
    kube_api: KubeApi, client: kubernetes.client.ApiClient
) -> None:
    leases = CoordinationV1Api(client)
    leases.create_namespaced_lease("default", V1Lease(metadata=V1ObjectMeta(name="before")))
    listed = leases.list_namespaced_lease("default").to_dict()["metadata"]["resource_version"]
    leases.create_namespaced_lease("default", V1Lease(metadata=V1ObjectMeta(name="after")))
    leases.delete_namespaced_lease("before", "default")

    url = f"{kube_api.url}/apis/coordination.k8s.io/v1/namespaces/default/leases"
    query = {"watch": "true", "resourceVersion": listed, "timeoutSeconds": "1"}
    with requests.get(url, params=query, stream=True, timeout=10) as watch:
        events = [json.loads(line) for line in watch.iter_lines() if line]

    assert watch.headers["Content-Type"] == "application/json"
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [
        ("ADDED", "after"),
        ("DELETED", "before"),
    ]


# --- Faults against the kubernetes client --------------------------------------


def test_an_injected_conflict_on_lease_update(
    kube_api: KubeApi, client: kubernetes.client.ApiClient
) -> None:
    leases = CoordinationV1Api(client)
    lease = leases.create_namespaced_lease("default", V1Lease(metadata=V1ObjectMeta(name="held")))
    kube_api.conflict("PUT", r"/leases/held$")

    with pytest.raises(ApiException) as conflict:
        leases.replace_namespaced_lease("held", "default", lease)

    assert conflict.value.status == 409
    replaced = leases.replace_namespaced_lease("held", "default", lease)
    assert replaced.to_dict()["metadata"]["name"] == "held"


def test_a_slow_answer_times_out_the_client_after_its_retries(
    kube_api: KubeApi, client: kubernetes.client.ApiClient
) -> None:
    kube_api.add_node("n1")
    kube_api.delay("GET", r"/nodes/n1$", 1.0, times=None)

    with pytest.raises(urllib3.exceptions.MaxRetryError) as timed_out:
        CoreV1Api(client).read_node("n1", _request_timeout=0.2)

    assert isinstance(timed_out.value.reason, urllib3.exceptions.ReadTimeoutError)
    # urllib3 retries a timed-out read three times: one slow answer alone goes unnoticed.
    assert len([r for r in kube_api.requests() if r.path == "/api/v1/nodes/n1"]) == 4
    kube_api.clear_faults()


# --- Discovery and OpenAPI ------------------------------------------------------


def test_discovery_and_openapi_documents(kube_api: KubeApi) -> None:
    def get(path: str, accept: str = "application/json") -> requests.Response:
        return requests.get(kube_api.url + path, headers={"Accept": accept}, timeout=10)

    assert get("/version").json()["gitVersion"] == f"v{kube_api.kube_version}"
    aggregated = get(
        "/apis", "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    )
    assert "as=APIGroupDiscoveryList" in aggregated.headers["Content-Type"]
    groups = {g["metadata"]["name"]: g for g in aggregated.json()["items"]}
    assert [v["version"] for v in groups["autoscaling"]["versions"]] == ["v2", "v1"]
    leases = {r["resource"]: r for r in groups["coordination.k8s.io"]["versions"][0]["resources"]}
    assert leases["leases"]["scope"] == "Namespaced"
    assert get("/api/v1").json()["resources"][0]["kind"]
    root = get("/openapi/v3").json()["paths"]
    apps = get(root["apis/apps/v1"]["serverRelativeURL"]).json()
    patch = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    assert (
        get("/openapi/v2", "application/com.github.proto-openapi.spec.v2@v1.0+protobuf").status_code
        == 406
    )
    assert "io.k8s.api.apps.v1.Deployment" in get("/openapi/v2").json()["definitions"]


# --- The emulator's object semantics, pure ------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("owner=helm,name=demo", True),
        ("owner==helm", True),
        ("owner!=helm", False),
        ("name in (a, demo)", True),
        ("name notin (demo)", False),
        ("status", False),
        ("!status", True),
        ("", True),
    ],
)
def test_label_selectors(selector: str, expected: bool) -> None:
    assert sem.matches_labels(selector, {"owner": "helm", "name": "demo"}) is expected


def test_strategic_merge_patch_merges_named_list_items() -> None:
    live: dict[str, Any] = {
        "spec": {"containers": [{"name": "a", "image": "1", "ports": [80]}, {"name": "b"}]}
    }
    patch = {
        "spec": {
            "$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "a", "image": "2"}, {"name": "b", "$patch": "delete"}],
        }
    }

    assert sem.strategic_merge_patch(live, patch) == {
        "spec": {"containers": [{"name": "a", "image": "2", "ports": [80]}]}
    }
    assert sem.merge_patch(live, {"spec": None}) == {}


def test_server_side_apply_drops_what_the_manager_stopped_applying() -> None:
    first = {
        "spec": {
            "containers": [{"name": "a", "env": [{"name": "X"}, {"name": "Y"}]}, {"name": "b"}]
        }
    }
    second = {"spec": {"containers": [{"name": "a", "env": [{"name": "X"}]}]}}
    live = sem.server_side_apply(None, first, None)
    live["spec"]["containers"].append({"name": "sidecar"})  # added by someone else

    applied = sem.server_side_apply(live, second, first)

    assert applied == {
        "spec": {"containers": [{"name": "a", "env": [{"name": "X"}]}, {"name": "sidecar"}]}
    }
