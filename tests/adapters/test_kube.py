"""The Kubernetes pieces against the emulated API server: client errors, events, leases.

The official ``kubernetes`` client (under ``KubeClient``) talks HTTP to ``kube_api`` on
loopback; faults are injected there, never by patching a library.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes.client import ApiClient, Configuration

from controller.adapters.kube import (
    KubeClient,
    KubeConflictError,
    KubeConnection,
    KubeError,
    KubeForbiddenError,
    KubeNotFoundError,
    KubeUnavailableError,
    ObjectRef,
    object_path,
    plural,
)
from controller.adapters.kubeevents import EventRecorder, action_of
from controller.adapters.leader import LeaderElector, LeaseOutcome
from controller.adapters.liveobjects import LiveObjects
from controller.core.status import Event
from tests.support.kubeapi import KubeApi

CONTROLLER_CM = ObjectRef("v1", "ConfigMap", "modelsync-config", "modelsync")


@pytest.fixture
def client(kube_api: KubeApi) -> Iterator[KubeClient]:
    connection = KubeConnection(kube_api.kubeconfig_path, request_timeout=5.0)
    yield connection.client()
    connection.close()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.01)


# --- connection and client ------------------------------------------------------------


def test_detect_prefers_a_given_kubeconfig_then_the_pod_service_account() -> None:
    in_pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}
    assert KubeConnection.detect(environ=in_pod).in_cluster
    assert not KubeConnection.detect(Path("k"), environ=in_pod).in_cluster
    assert not KubeConnection.detect(environ=in_pod | {"KUBECONFIG": "/k"}).in_cluster
    assert not KubeConnection.detect(environ={}).in_cluster


def test_one_helm_config_per_namespace(kube_api: KubeApi) -> None:
    connection = KubeConnection(kube_api.kubeconfig_path)
    assert connection.helm_config("a") is connection.helm_config("a")
    assert connection.helm_config("a") is not connection.helm_config("b")
    assert connection.helm_config("a").list() == []
    connection.close()


def test_object_paths() -> None:
    assert object_path("apps/v1", "Deployment", "ml", "phi") == (
        "/apis/apps/v1/namespaces/ml/deployments/phi"
    )
    assert object_path("v1", "ConfigMap", "ml") == "/api/v1/namespaces/ml/configmaps"
    assert object_path("v1", "Namespace", "ml", "ml") == "/api/v1/namespaces/ml"
    assert [
        plural(k) for k in ("Ingress", "NetworkPolicy", "Gateway", "PersistentVolumeClaim")
    ] == [
        "ingresses",
        "networkpolicies",
        "gateways",
        "persistentvolumeclaims",
    ]


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (404, KubeNotFoundError, False),
        (409, KubeConflictError, False),
        (403, KubeForbiddenError, False),
        (422, KubeError, False),
        (429, KubeUnavailableError, True),
        (503, KubeUnavailableError, True),
    ],
)
def test_error_answers_map_to_typed_errors(
    kube_api: KubeApi, client: KubeClient, status: int, error: type[KubeError], retryable: bool
) -> None:
    kube_api.fail("GET", r"/configmaps/x$", status)
    with pytest.raises(error) as raised:
        client.get("/api/v1/namespaces/default/configmaps/x")
    assert type(raised.value) is error
    assert raised.value.retryable is retryable
    assert raised.value.status == status


def test_status_messages_are_cut_short_so_bodies_never_reach_a_log(
    kube_api: KubeApi, client: KubeClient
) -> None:
    echoed = "Secret in version v1 cannot be handled: data: password=" + "s3cr3t" * 100
    kube_api.fail("POST", r"/secrets$", 422, message=echoed)
    with pytest.raises(KubeError) as raised:
        client.create("/api/v1/namespaces/default/secrets", {"metadata": {"name": "x"}})
    assert len(str(raised.value)) < 300
    assert str(raised.value).startswith("POST /api/v1/namespaces/default/secrets: 422 Invalid:")


def test_every_request_has_a_timeout(kube_api: KubeApi) -> None:
    client = KubeConnection(kube_api.kubeconfig_path, request_timeout=0.3).client()
    kube_api.delay("GET", r"/configmaps/slow$", 3)
    started = time.monotonic()
    with pytest.raises(KubeUnavailableError, match=r"ReadTimeoutError|timed out"):
        client.get("/api/v1/namespaces/default/configmaps/slow")
    assert time.monotonic() - started < 2


def test_an_unreachable_server_is_retryable(silent_port: int) -> None:
    client = KubeClient(ApiClient(Configuration(host=f"http://127.0.0.1:{silent_port}")))
    with pytest.raises(KubeUnavailableError) as raised:
        client.get("/api/v1/namespaces")
    assert raised.value.retryable


@pytest.fixture
def silent_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- live objects ---------------------------------------------------------------------


def configmap(name: str, **data: str) -> dict[str, object]:
    meta = {"name": name, "namespace": "default"}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data}


def test_many_objects_of_a_kind_are_read_with_one_list(
    kube_api: KubeApi, client: KubeClient
) -> None:
    wanted = [configmap(f"c{i}", key="v") for i in range(5)]
    for obj in wanted[:4]:
        kube_api.put(obj)
    kube_api.put(configmap("c3", key="changed"))
    before = len(kube_api.requests())

    drift = LiveObjects(client).drift(wanted)

    assert drift == {
        ("v1", "ConfigMap", "default", "c3"): ["data.key"],
        ("v1", "ConfigMap", "default", "c4"): ["<missing>"],
    }
    assert [r.path for r in kube_api.requests()[before:]] == [
        "/api/v1/namespaces/default/configmaps"
    ]


# --- events ---------------------------------------------------------------------------


def deployment_ref(kube_api: KubeApi, name: str = "phi") -> ObjectRef:
    obj = kube_api.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1},
        }
    )
    return ObjectRef.of(obj)


def test_events_regard_the_release_workload_with_camel_case_reasons(
    kube_api: KubeApi, client: KubeClient
) -> None:
    phi = deployment_ref(kube_api)
    refs = {("default", "phi"): phi}
    recorder = EventRecorder(
        client,
        fallback=CONTROLLER_CM,
        instance="modelsync-0",
        regarding=lambda ns, name: refs.get((ns, name)),
    )

    recorder.record(
        [
            Event("default", "phi", "InstallSucceeded", "install succeeded (revision 1)"),
            Event("default", "gone", "Pruned", "uninstalled: no longer in Git"),
        ]
    )

    events = {e["reason"]: e for e in kube_api.objects("events.k8s.io/v1/events")}
    installed = events["InstallSucceeded"]
    assert installed["regarding"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "phi",
        "namespace": "default",
        "uid": phi.uid,
    }
    assert installed["metadata"]["namespace"] == "default"
    assert (installed["type"], installed["action"], installed["note"]) == (
        "Normal",
        "Install",
        "install succeeded (revision 1)",
    )
    assert installed["reportingController"] == "modelsync.dev/controller"
    assert installed["reportingInstance"] == "modelsync-0"
    pruned = events["Pruned"]
    assert pruned["regarding"]["kind"] == "ConfigMap"
    assert pruned["metadata"]["namespace"] == "modelsync"
    assert pruned["note"] == "default/gone: uninstalled: no longer in Git"
    assert pruned["action"] == "Uninstall"


def test_repeated_events_count_up_a_series(kube_api: KubeApi, client: KubeClient) -> None:
    now = [1_000_000.0]
    recorder = EventRecorder(
        client, fallback=CONTROLLER_CM, instance="modelsync-0", clock=lambda: now[0], window=600
    )
    drift = Event("default", "phi", "DriftDetected", "live objects differ", warning=True)

    for _ in range(3):
        recorder.record([drift])
        now[0] += 60
    now[0] += 600
    recorder.record([drift])

    events = kube_api.objects("events.k8s.io/v1/events")
    assert len(events) == 2
    first = min(events, key=lambda e: e["eventTime"])
    assert first["series"]["count"] == 3
    assert first["type"] == "Warning"
    assert [r.method for r in kube_api.requests() if "/events" in r.path] == [
        "POST",
        "PATCH",
        "PATCH",
        "POST",
    ]


def test_core_events_when_events_k8s_io_is_forbidden(kube_api: KubeApi, client: KubeClient) -> None:
    kube_api.fail("POST", r"/apis/events.k8s.io/", 403, times=None)
    recorder = EventRecorder(client, fallback=CONTROLLER_CM, instance="modelsync-0")

    recorder.record([Event("default", "phi", "UpgradeFailed", "boom", warning=True)])
    recorder.record([Event("default", "phi", "UpgradeFailed", "boom", warning=True)])

    (event,) = kube_api.objects("v1/events")
    assert (event["reason"], event["type"], event["count"]) == ("UpgradeFailed", "Warning", 2)
    assert event["involvedObject"]["name"] == "modelsync-config"


def test_an_event_that_cannot_be_recorded_is_logged_not_raised(
    kube_api: KubeApi, client: KubeClient, caplog: pytest.LogCaptureFixture
) -> None:
    kube_api.fail("POST", r"/events$", 500, times=None)
    recorder = EventRecorder(client, fallback=CONTROLLER_CM, instance="modelsync-0")

    with caplog.at_level(logging.WARNING):
        recorder.record([Event("default", "phi", "InstallFailed", "x", warning=True)])

    assert "InstallFailed for default/phi not recorded" in caplog.text


def test_actions_follow_the_reason() -> None:
    assert [
        action_of(r) for r in ("UpgradeFailed", "ValidationFailed", "DriftDetected", "Other")
    ] == ["Upgrade", "Validate", "DetectDrift", "Reconcile"]


# --- leader election ------------------------------------------------------------------


def elector(
    client: KubeClient,
    identity: str,
    *,
    lease_duration: float = 2.0,
    renew_deadline: float = 1.0,
    clock: Callable[[], float] = time.time,
    on_change: Callable[[bool], None] | None = None,
) -> LeaderElector:
    return LeaderElector(
        client,
        namespace="modelsync",
        identity=identity,
        lease_duration=lease_duration,
        renew_deadline=renew_deadline,
        retry_period=0.05,
        clock=clock,
        monotonic=clock,
        on_change=on_change,
    )


def holder(kube_api: KubeApi) -> str | None:
    lease = kube_api.get("coordination.k8s.io/v1/leases", "modelsync", "modelsync")
    return None if lease is None else lease["spec"].get("holderIdentity")


def test_one_leader_and_the_standby_takes_over_when_it_stops(
    kube_api: KubeApi, client: KubeClient
) -> None:
    changes: list[tuple[str, bool]] = []
    a = elector(client, "pod-a", on_change=lambda leading: changes.append(("a", leading)))
    b = elector(client, "pod-b", on_change=lambda leading: changes.append(("b", leading)))
    a.start()
    wait_for(lambda: a.is_leader)
    b.start()
    wait_for(
        lambda: len([r for r in kube_api.requests() if r.path.endswith("/leases/modelsync")]) > 8
    )
    assert (a.is_leader, b.is_leader, holder(kube_api)) == (True, False, "pod-a")

    a.stop()

    wait_for(lambda: b.is_leader)
    assert holder(kube_api) == "pod-b"
    assert changes == [("a", True), ("a", False), ("b", True)]
    b.stop()
    assert holder(kube_api) is None


def test_an_expired_lease_is_taken_over(kube_api: KubeApi, client: KubeClient) -> None:
    now = [1_000_000.0]
    a = elector(client, "pod-a", clock=lambda: now[0])
    b = elector(client, "pod-b", clock=lambda: now[0])
    assert a.step()
    assert b.try_acquire_or_renew() is LeaseOutcome.FOLLOWING

    now[0] += 3  # past renewTime + leaseDurationSeconds: pod-a stopped renewing

    assert b.step()
    lease = kube_api.get("coordination.k8s.io/v1/leases", "modelsync", "modelsync")
    assert lease is not None
    assert (lease["spec"]["holderIdentity"], lease["spec"]["leaseTransitions"]) == ("pod-b", 1)
    assert a.try_acquire_or_renew() is LeaseOutcome.FOLLOWING
    assert not a.step()


def test_a_stale_write_gets_409_and_does_not_steal(kube_api: KubeApi, client: KubeClient) -> None:
    now = [1_000_000.0]
    # Long timings: each request may take 2 s (half the renew deadline).
    a = elector(client, "pod-a", clock=lambda: now[0], lease_duration=8, renew_deadline=4)
    assert a.step()
    late = [now[0]]
    b = elector(client, "pod-b", clock=lambda: late[0], lease_duration=8, renew_deadline=4)
    assert b.try_acquire_or_renew() is LeaseOutcome.FOLLOWING
    late[0] += 10  # pod-b saw no renewal for the whole lease: it may try to take it
    kube_api.delay("PUT", r"/leases/modelsync$", 1.0)  # holds pod-b's write after its read
    outcome: list[LeaseOutcome] = []
    racer = threading.Thread(target=lambda: outcome.append(b.try_acquire_or_renew()))
    racer.start()
    kube_api.wait_for_request("PUT", r"/leases/modelsync$")

    assert a.step()  # pod-a renews meanwhile: a new resourceVersion
    racer.join(5)

    assert outcome == [LeaseOutcome.FOLLOWING]
    assert holder(kube_api) == "pod-a"
    assert not b.is_leader


def test_a_leader_that_cannot_renew_steps_down_after_the_deadline(
    kube_api: KubeApi, client: KubeClient
) -> None:
    now = [1_000_000.0]
    a = elector(client, "pod-a", clock=lambda: now[0])
    assert a.step()
    kube_api.fail("PUT", r"/leases/modelsync$", 500, times=None)

    now[0] += 0.5
    assert a.step()  # within renewDeadline: still leading
    now[0] += 0.6
    assert not a.step()
    assert not a.is_leader


def test_a_leader_paused_past_its_renew_deadline_stops_leading_at_once(
    client: KubeClient,
) -> None:
    now = [1_000_000.0]
    a = elector(client, "pod-a", clock=lambda: now[0])
    assert a.step()

    now[0] += 0.9  # the process stalls; the elector's thread does not run
    assert leads(a)
    now[0] += 0.1  # renew deadline (1 s) reached: no action may start any more
    assert not leads(a)

    assert a.step()  # nobody took the Lease meanwhile: renewed, leading again
    assert leads(a)


def leads(candidate: LeaderElector) -> bool:
    """``is_leader`` as read by the loop: each read is a fresh check of the clock."""
    return candidate.is_leader


def test_a_replica_whose_clock_runs_fast_does_not_take_a_valid_lease(
    kube_api: KubeApi, client: KubeClient
) -> None:
    now = [1_000_000.0]
    a = elector(client, "pod-a", clock=lambda: now[0])
    ahead = [now[0] + 3600.0]  # pod-b's wall clock is an hour fast
    b = elector(client, "pod-b", clock=lambda: ahead[0])
    assert a.step()

    for _ in range(5):  # pod-a renews every 1.5 s, within its 2 s lease
        assert not b.step()
        now[0] += 1.5
        ahead[0] += 1.5
        assert a.step()
    assert holder(kube_api) == "pod-a"
    assert not b.step()  # pod-b sees pod-a's last renewal; then pod-a stops renewing
    ahead[0] += 1.9  # unchanged for 1.9 s of its 2 by pod-b's own count

    assert not b.step()
    ahead[0] += 0.1

    assert b.step()
    assert holder(kube_api) == "pod-b"


def test_leader_election_needs_sane_timings(client: KubeClient) -> None:
    with pytest.raises(ValueError, match="retry_period < renew_deadline < lease_duration"):
        elector(client, "pod-a", renew_deadline=5.0)
    with pytest.raises(ValueError, match="identity"):
        elector(client, "")
