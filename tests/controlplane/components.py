"""Each component of the local control plane: its command line, and when it counts as up.

Test infrastructure (tests/controlplane), under ``cluster.py``, which starts them in
``ORDER``, each after the one before is ready. The flags are those of a small kubeadm-like
cluster, bound to 127.0.0.1, with what tests need changed and said why.
"""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tests.controlplane.build import COMPONENTS
from tests.controlplane.pki import Identity, Pki
from tests.controlplane.processes import (
    client_context,
    get_json,
    http_ok,
    insecure_context,
    spawn,
    wait_until,
)

if TYPE_CHECKING:
    from tests.controlplane.cluster import ControlPlane

ORDER = COMPONENTS  # each starts once the one before is ready
#: Taints the node lifecycle controller keeps on a node until it has seen it Ready.
NOT_READY_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})
#: Service ClusterIPs are handed out from here; nothing routes to them, they are API fields.
SERVICE_RANGE = "10.96.0.0/16"


def write_kubeconfig(path: Path, server: str, pki: Pki, client: Identity) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server, "certificate-authority": str(pki.ca)}}
        ],
        "users": [
            {
                "name": client.user,
                "user": {
                    "client-certificate": str(pki.cert(client.file)),
                    "client-key": str(pki.key(client.file)),
                },
            }
        ],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": client.user}}],
        "current-context": "local",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    path.chmod(0o600)


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # The controller manager's own controllers: thousands of requests, none of ours.
        {"level": "None", "userGroups": ["system:serviceaccounts:kube-system"]},
        {"level": "Metadata", "userGroups": ["system:serviceaccounts"]},
        {"level": "None"},
    ],
}


def write_audit_policy(directory: Path) -> Path:
    path = directory / "audit-policy.yaml"
    path.write_text(yaml.safe_dump(AUDIT_POLICY, sort_keys=False))
    return path


def arguments(component: str, plane: ControlPlane, pki: Pki, *, durable: bool) -> list[str]:
    d, ports = plane.dir, plane.ports
    if component == "etcd":
        client, peer = f"http://127.0.0.1:{ports.etcd}", f"http://127.0.0.1:{ports.etcd_peer}"
        return [
            "--name=local",
            f"--data-dir={d / 'etcd'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=local={peer}",
            "--log-level=warn",
            # A test session's data is thrown away: fsync would only slow every write.
            *([] if durable else ["--unsafe-no-fsync"]),
        ]
    if component == "kube-apiserver":
        return [
            f"--etcd-servers=http://127.0.0.1:{ports.etcd}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={ports.apiserver}",
            f"--cert-dir={d / 'kube-apiserver'}",
            f"--tls-cert-file={pki.cert('apiserver')}",
            f"--tls-private-key-file={pki.key('apiserver')}",
            f"--client-ca-file={pki.ca}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki.service_account_public_key}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--profiling=false",
            # The API server would publish 127.0.0.1 as the `kubernetes` Service's endpoint,
            # which Endpoints validation refuses (loopback), every ten seconds; no pod here
            # dials the API server through that Service.
            "--endpoint-reconciler-type=none",
            # Who called what (tests/cluster/test_controller_rbac.py reads it): the requests of
            # service accounts outside kube-system, written before each answer is sent.
            f"--audit-policy-file={write_audit_policy(d)}",
            f"--audit-log-path={plane.logs / 'audit.log'}",
            "--audit-log-maxsize=100",
            "--audit-log-maxbackup=1",
        ]
    if component in ("kube-controller-manager", "kube-scheduler"):
        name = "controller-manager" if component == "kube-controller-manager" else "scheduler"
        kubeconfig = d / f"{name}.kubeconfig"
        port = ports.controller_manager if name == "controller-manager" else ports.scheduler
        common = [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={d / component}",
            # One instance: waiting for a lease would only delay the start.
            "--leader-elect=false",
        ]
        if name == "scheduler":
            return common
        return [
            *common,
            # Each controller acts as its own service account, as kubeadm sets it up, so
            # their RBAC roles are the ones in force.
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki.service_account_key}",
            f"--root-ca-file={pki.ca}",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            # Lift the new nodes' not-ready taint within a second of their first heartbeat
            # (every 5s by default), so a test session starts sooner.
            "--node-monitor-period=1s",
        ]
    if component == "fake-kubelet":
        return [f"--kubeconfig={d / 'fake-kubelet.kubeconfig'}", f"--nodes={d / 'nodes.json'}"]
    raise ValueError(f"no component {component!r}")


def launch(
    component: str, plane: ControlPlane, pki: Pki, *, durable: bool
) -> subprocess.Popen[bytes]:
    return spawn(
        plane.binary, component, arguments(component, plane, pki, durable=durable), plane.logs
    )


def wait_ready(
    component: str, plane: ControlPlane, pki: Pki, process: subprocess.Popen[bytes]
) -> None:
    """Return once ``component`` serves (or, for the fake kubelet, its nodes are usable)."""
    ports = plane.ports
    admin = client_context(pki.ca, pki.cert("admin"), pki.key("admin"))
    checks = {
        "etcd": lambda: http_ok(f"http://127.0.0.1:{ports.etcd}/health"),
        "kube-apiserver": lambda: http_ok(f"{plane.server}/readyz", admin),
        "kube-controller-manager": lambda: http_ok(
            f"https://127.0.0.1:{ports.controller_manager}/healthz", insecure_context()
        ),
        "kube-scheduler": lambda: http_ok(
            f"https://127.0.0.1:{ports.scheduler}/healthz", insecure_context()
        ),
        "fake-kubelet": lambda: schedulable_nodes(plane.server, admin) >= plane.nodes,
    }
    what = "schedulable nodes" if component == "fake-kubelet" else "health"
    wait_until(what, checks[component], process, logs=plane.logs, component=component)


def schedulable_nodes(server: str, context: ssl.SSLContext) -> int:
    """Nodes that are Ready and carry no not-ready taint."""
    try:
        nodes = get_json(f"{server}/api/v1/nodes", context)["items"]
    except (OSError, ValueError, KeyError):
        return 0
    return sum(1 for node in nodes if _usable(node))


def _usable(node: Mapping[str, Any]) -> bool:
    status, spec = node.get("status") or {}, node.get("spec") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    tainted = any(t.get("key") in NOT_READY_TAINTS for t in spec.get("taints") or [])
    return ready and not tainted
