"""The local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
fake GPU nodes on 127.0.0.1, started from the binary ``build.py`` makes.

Test infrastructure (tests/controlplane). ``start()`` brings one up in a folder and returns
once every node is Ready and schedulable; ``stop()`` ends its processes. The pytest fixture
(``fixtures.py``) starts one per test session in a temporary folder; ``make cluster`` keeps
one in ``.modelsync/cluster`` until ``make cluster-down``:

    python -m tests.controlplane.cluster up [--cluster dev]   # prints the kubeconfig's path
    python -m tests.controlplane.cluster down

The folder holds ``pki/`` (credentials), ``etcd/`` (data), ``logs/<component>.log``, one
kubeconfig per client (``kubeconfig`` is the administrator's), ``nodes.json`` and
``state.json`` (ports and process ids, for ``running()`` and ``down``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from controller.adapters.kube import KubeConflictError, KubeConnection, KubeError
from tests.controlplane import components
from tests.controlplane.build import REPO, BuildError, ensure_binary
from tests.controlplane.nodes import ClusterFileError, NodeSpec, load_cluster, node_specs
from tests.controlplane.pki import ADMIN, CLIENTS, ensure_pki
from tests.controlplane.processes import (
    StartError,
    client_context,
    free_port,
    http_ok,
)
from tests.controlplane.processes import (
    stop as stop_processes,
)

DEFAULT_DIR = REPO / ".modelsync" / "cluster"


@dataclass(frozen=True)
class Ports:
    etcd: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int

    @classmethod
    def free(cls) -> Ports:
        return cls(free_port(), free_port(), free_port(), free_port(), free_port())


@dataclass(frozen=True)
class ControlPlane:
    """A started control plane: where it lives, how to reach it, which processes it is."""

    dir: Path
    binary: Path
    ports: Ports
    pids: dict[str, int]  # component -> process id, in start order
    nodes: int
    cluster: str = ""  # the clusters/<name> its nodes were made from
    started_seconds: float = 0.0

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def logs(self) -> Path:
        return self.dir / "logs"

    def healthy(self) -> bool:
        pki = self.dir / "pki"
        context = client_context(pki / "ca.crt", pki / "admin.crt", pki / "admin.key")
        return http_ok(f"{self.server}/readyz", context)


def start(
    directory: Path, nodes: list[NodeSpec], *, cluster: str = "", durable: bool = False
) -> tuple[ControlPlane, list[subprocess.Popen[bytes]]]:
    """Start every component in ``directory`` and wait until the nodes are schedulable.

    ``durable`` keeps etcd's writes synced to disk (``make cluster``); a test session's
    etcd skips fsync, its data is thrown away. On failure the processes already started
    are stopped and StartError names the component and ends with its log.
    """
    started = time.monotonic()
    binary = ensure_binary()
    directory.mkdir(parents=True, exist_ok=True)
    pki = ensure_pki(directory / "pki")
    ports = Ports.free()
    plane = ControlPlane(directory, binary, ports, {}, len(nodes))
    for client in CLIENTS:
        name = "kubeconfig" if client is ADMIN else f"{client.file}.kubeconfig"
        components.write_kubeconfig(directory / name, plane.server, pki, client)
    (directory / "nodes.json").write_text(json.dumps(nodes, indent=1))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for component in components.ORDER:
            process = components.launch(component, plane, pki, durable=durable)
            processes.append(process)
            plane.pids[component] = process.pid
            components.wait_ready(component, plane, pki, process)
    except BaseException:
        stop_processes(list(reversed(plane.pids.values())), binary)
        for process in processes:
            process.wait()
        raise
    plane = ControlPlane(
        directory, binary, ports, plane.pids, len(nodes), cluster, time.monotonic() - started
    )
    (directory / "state.json").write_text(json.dumps(asdict(plane), default=str, indent=1))
    return plane, processes


def stop(plane: ControlPlane) -> None:
    """End the control plane's processes, clients first, etcd last."""
    stop_processes(list(reversed(plane.pids.values())), plane.binary)


def running(directory: Path) -> ControlPlane | None:
    """The control plane ``state.json`` in ``directory`` describes, if it still answers."""
    plane = recorded(directory)
    return plane if plane is not None and plane.healthy() else None


def discard(directory: Path) -> None:
    """Stop the processes ``state.json`` names and drop etcd's data: the next start is a
    new cluster (as `kind delete cluster`), so a change of cluster.yaml leaves no old nodes.
    The credentials stay, so a kubeconfig copied elsewhere keeps working."""
    plane = recorded(directory)
    if plane is not None:
        stop(plane)
    shutil.rmtree(directory / "etcd", ignore_errors=True)
    (directory / "state.json").unlink(missing_ok=True)


def recorded(directory: Path) -> ControlPlane | None:
    try:
        state = json.loads((directory / "state.json").read_text())
    except (OSError, ValueError):
        return None
    return ControlPlane(
        dir=Path(state["dir"]),
        binary=Path(state["binary"]),
        ports=Ports(**state["ports"]),
        pids={str(k): int(v) for k, v in state["pids"].items()},
        nodes=int(state["nodes"]),
        cluster=str(state.get("cluster") or ""),
    )


def create_namespaces(plane: ControlPlane, names: Sequence[str]) -> None:
    """The cluster's namespaces: modelsync installs into them but never creates them, a
    platform team does (here, the launcher on its behalf)."""
    connection = KubeConnection(plane.kubeconfig)
    try:
        client = connection.client()
        for name in names:
            # A conflict: there from an earlier start, kept in etcd's data.
            with contextlib.suppress(KubeConflictError):
                client.create("/api/v1/namespaces", {"metadata": {"name": name}})
    finally:
        connection.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.controlplane.cluster")
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--cluster", default="dev", help="clusters/<name>/cluster.yaml's pools")
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    args = parser.parse_args(argv)
    directory: Path = args.dir.resolve()
    if args.command == "down":
        discard(directory)
        print(f"stopped the control plane in {directory}", file=sys.stderr)
        return 0
    plane = running(directory)
    if plane is not None and plane.cluster != args.cluster:
        print(
            f"error: the control plane in {directory} runs the nodes of clusters/"
            f"{plane.cluster}; `make cluster-down` first",
            file=sys.stderr,
        )
        return 1
    if plane is not None:
        print(f"already running ({plane.server}); kubeconfig:", file=sys.stderr)
        print(plane.kubeconfig)
        return 0
    # Whatever is left of an earlier one (crashed, or of another cluster's pools) goes.
    discard(directory)
    try:
        cluster = load_cluster(REPO / "clusters" / args.cluster / "cluster.yaml")
        plane, _ = start(directory, node_specs(cluster), cluster=cluster.name, durable=True)
        create_namespaces(plane, cluster.namespaces)
    except (BuildError, ClusterFileError, StartError, KubeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(
        f"control plane up in {plane.started_seconds:.1f}s at {plane.server}: "
        f"{plane.nodes} fake nodes of clusters/{args.cluster}; logs in {plane.logs}; "
        "kubeconfig:",
        file=sys.stderr,
    )
    print(plane.kubeconfig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
